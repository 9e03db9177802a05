package promotion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/slipway-ci/slipway/pkg/environment"
	"github.com/slipway-ci/slipway/pkg/rollout"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// The server never reaches a target cluster: it signals a rollout and
// reads its progress through the annotations of the deploy PipelineRun
// in its own namespace (the deploy pod mirrors them; see pkg/rollout),
// and it removes a canary or an app by starting deploy runs of those
// modes. Only deploy pods get the target clusters' kubeconfigs.

// signal sends sig to the rollout of deploy PipelineRun prName. A run
// that does not exist yet is no error: the worker signals an abort itself
// once it created the run (see rollOut).
func (s *Service) signal(ctx context.Context, prName string, sig rollout.Signal, reason string) error {
	runs := s.tc.TektonV1().PipelineRuns(s.o.Namespace)
	// The continue count is written with the resourceVersion it was read
	// at, so two concurrent continues are two.
	for range 5 {
		pr, err := runs.Get(ctx, prName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && sig == rollout.SignalAbort {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading deploy PipelineRun %s: %w", prName, err)
		}
		patch, err := rollout.SignalPatch(pr.Annotations, sig, prName, reason)
		if err != nil {
			return err
		}
		meta := map[string]any{"annotations": patch}
		if sig == rollout.SignalContinue {
			meta["resourceVersion"] = pr.ResourceVersion
		}
		body, err := json.Marshal(map[string]any{"metadata": meta})
		if err != nil {
			return fmt.Errorf("encoding the signal: %w", err)
		}
		_, err = runs.Patch(ctx, prName, types.MergePatchType, body, metav1.PatchOptions{})
		if !apierrors.IsConflict(err) {
			if err != nil {
				return fmt.Errorf("signalling %s to deploy PipelineRun %s: %w", sig, prName, err)
			}
			return nil
		}
	}
	return fmt.Errorf("signalling %s to deploy PipelineRun %s: conflicting writes, try again", sig, prName)
}

// modeRunTimeout bounds a remove-canary or delete-app run: they change a
// few objects and wait for nothing.
const modeRunTimeout = 5 * time.Minute

// runMode starts a deploy run of mode m for app in t's cluster cl (id
// tells it from other runs of the same mode) and waits for its end; the
// error is its reason when it did not succeed.
func (s *Service) runMode(ctx context.Context, m rollout.Mode, app, env string, t environment.Target, cl environment.Cluster, id string) error {
	_, err := s.runModeObjects(ctx, m, app, env, t, cl, id, false)
	return err
}

// runModeObjects is runMode that also returns the run's objects result
// (delete-app: what it deleted or, dryRun, would delete).
func (s *Service) runModeObjects(ctx context.Context, m rollout.Mode, app, env string, t environment.Target, cl environment.Cluster, id string, dryRun bool) ([]string, error) {
	return s.runDeployMode(ctx, m, app, env, t, cl, id, dryRun, nil)
}

// runDeployMode is runModeObjects for any mode; name names the run (the
// app, or the namespace of an orphans run, which has no app).
func (s *Service) runDeployMode(ctx context.Context, m rollout.Mode, name, env string, t environment.Target, cl environment.Cluster, id string, dryRun bool, claimed []string) ([]string, error) {
	prName := tekton.ModeRunName(m, name, env, cl.Name, id)
	o := tekton.DeployRunOptions{
		Mode: m, Namespace: s.o.Namespace, Name: prName, SlipwayImage: s.o.SlipwayImage, ServiceAccount: s.o.ServiceAccount,
		App: name, Env: env, Cluster: cl.Name, TargetNamespace: t.Namespace, Deployment: t.Deployment,
		KubeconfigSecret: cl.KubeconfigSecret, Timeout: modeRunTimeout, DryRun: dryRun, Claimed: claimed,
	}
	if m == rollout.ModeOrphans {
		o.App = ""
	}
	if m == rollout.ModeRemoveCanary {
		o.HTTPRoute, o.NginxIngress = t.Rollout.HTTPRoute, t.Rollout.NginxIngress
	}
	pr, err := tekton.NewDeployRun(o)
	if err != nil {
		return nil, err
	}
	runs := s.tc.TektonV1().PipelineRuns(s.o.Namespace)
	if _, err := runs.Create(ctx, pr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating PipelineRun %s/%s: %w", s.o.Namespace, prName, err)
	}
	ctx, cancel := context.WithTimeout(ctx, modeRunTimeout+time.Minute)
	defer cancel()
	what := string(m) + " " + prName
	var objects []string
	err = s.follow(ctx, what, prName, func(pr *pipelinev1.PipelineRun) (bool, error) {
		done, err := s.finished(what, pr)
		if done {
			objects = objectsOf(pr)
		}
		return done, err
	})
	if ctx.Err() != nil {
		return nil, fmt.Errorf("waiting for PipelineRun %s/%s: %w", s.o.Namespace, prName, ctx.Err())
	}
	return objects, err
}

// objectsOf reads the objects result of a finished deploy run: one
// "kind/name" a line.
func objectsOf(pr *pipelinev1.PipelineRun) []string {
	var out []string
	for _, r := range pr.Status.Results {
		if r.Name != rollout.ResultObjects {
			continue
		}
		for _, l := range strings.Split(r.Value.StringVal, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

// progressOf is the progress line the deploy pod wrote on its PipelineRun.
func progressOf(pr *pipelinev1.PipelineRun) string {
	return strings.TrimSpace(rollout.Progress(pr.Annotations))
}

// errNoRun: a wave index outside the promotion's recorded runs.
var errNoRun = errors.New("no deploy PipelineRun recorded")

// waveRun is the name of p's i-th deploy PipelineRun.
func waveRun(runs []string, i int) (string, error) {
	if i < 0 || i >= len(runs) {
		return "", errNoRun
	}
	_, name, _ := strings.Cut(runs[i], "/")
	return name, nil
}
