package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

// Do runs one mode of the deploy task against s's app and returns one
// line saying what was done. The modes other than a rollout need only
// s.Namespace and s.App (and a canary's HTTPRoute or NginxIngress):
// the server starts them as deploy PipelineRuns, so only deploy pods
// change workloads.
func (d *Deployer) Do(ctx context.Context, m rollout.Mode, s Spec) (string, error) {
	switch m {
	case rollout.ModeRollout, "":
		if err := d.Run(ctx, s); err != nil {
			return "", err
		}
		return fmt.Sprintf("deployed %s to %s/%s (%s)", s.Image, s.Namespace, s.App, s.Strategy), nil
	case rollout.ModeRemoveCanary:
		if err := d.RemoveCanary(ctx, s); err != nil {
			return "", fmt.Errorf("removing the canary of %s/%s: %w", s.Namespace, s.App, err)
		}
		return fmt.Sprintf("removed the canary of %s/%s, stable untouched", s.Namespace, s.App), nil
	case rollout.ModeDeleteApp:
		deleted, err := d.DeleteAppSet(ctx, s)
		if err != nil {
			return "", err
		}
		return DeletedLine(s, deleted), nil
	default:
		return "", fmt.Errorf("unknown mode %q (want %s, %s or %s)", m, rollout.ModeRollout, rollout.ModeRemoveCanary, rollout.ModeDeleteApp)
	}
}

// DeleteAppSet deletes what Slipway applied and created for s.App in
// s.Namespace (s.DryRun: lists it, deleting nothing) and returns those
// objects as sorted "kind/name" entries: first the applied set the
// manifests recorded, then the copies the strategies made beside them.
func (d *Deployer) DeleteAppSet(ctx context.Context, s Spec) ([]string, error) {
	if s.Namespace == "" || s.App == "" {
		return nil, errors.New("namespace and app are required")
	}
	deleted, err := d.deleteAppliedSet(ctx, s.Namespace, s.App, s.DryRun)
	if err != nil {
		return nil, fmt.Errorf("deleting %s/%s (deleted so far: %s): %w", s.Namespace, s.App, list(deleted), err)
	}
	var more []string
	if s.DryRun {
		more, err = AppObjects(ctx, d.client, s.Namespace, s.App)
	} else {
		more, err = DeleteAppObjects(ctx, d.client, s.Namespace, s.App)
	}
	deleted = sortObjectNames(append(deleted, more...))
	if err != nil {
		return nil, fmt.Errorf("deleting %s/%s (deleted so far: %s): %w", s.Namespace, s.App, list(deleted), err)
	}
	return deleted, nil
}

// DeletedLine says in one line what DeleteAppSet deleted (or would).
func DeletedLine(s Spec, objs []string) string {
	if s.DryRun {
		return fmt.Sprintf("would delete from %s: %s", s.Namespace, list(objs))
	}
	return fmt.Sprintf("deleted from %s: %s", s.Namespace, list(objs))
}

// sortObjectNames sorts "kind/name" entries and drops repeats (an object
// both applied and named after the app).
func sortObjectNames(objs []string) []string {
	slices.Sort(objs)
	return slices.Compact(objs)
}

func list(objs []string) string {
	if len(objs) == 0 {
		return "nothing"
	}
	return strings.Join(objs, ", ")
}
