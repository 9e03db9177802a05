package deploy

import (
	"context"
	"errors"
	"fmt"
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
		if s.Namespace == "" || s.App == "" {
			return "", errors.New("namespace and app are required")
		}
		deleted, err := DeleteAppObjects(ctx, d.client, s.Namespace, s.App)
		if err != nil {
			return "", fmt.Errorf("deleting %s/%s (deleted so far: %s): %w", s.Namespace, s.App, list(deleted), err)
		}
		return fmt.Sprintf("deleted from %s: %s", s.Namespace, list(deleted)), nil
	default:
		return "", fmt.Errorf("unknown mode %q (want %s, %s or %s)", m, rollout.ModeRollout, rollout.ModeRemoveCanary, rollout.ModeDeleteApp)
	}
}

func list(objs []string) string {
	if len(objs) == 0 {
		return "nothing"
	}
	return strings.Join(objs, ", ")
}
