package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/slipway-ci/slipway/pkg/run"
)

// The CI pipeline's policy task and its result (tasks/policy.yaml).
const (
	policyTask   = "policy"
	resultPolicy = "POLICY"
	// maxPolicyResult bounds what is parsed: Tekton caps results at 4 KiB.
	maxPolicyResult = 8 << 10
)

// PolicyChecks keeps the policy step's outcome per image digest.
type PolicyChecks interface {
	SavePolicyCheck(ctx context.Context, c *run.PolicyCheck) error
}

// WithPolicyChecks stores each finished run's policy outcome by its image
// digest. Default: not stored (the status still names the violations).
func WithPolicyChecks(s PolicyChecks) Option {
	return func(r *Reporter) error {
		if s == nil {
			return errors.New("policy check store must not be nil")
		}
		r.policyChecks = s
		return nil
	}
}

// policyCheck reads the POLICY result of the run's policy TaskRun, read
// from the TaskRun (not the PipelineRun) because a failed task's results
// do not reach the PipelineRun's. ok is false when the run has no policy
// result (no policy task, not run, pruned). c.Digest is the digest the
// step checked (its image param, repo@digest, set by the Pipeline from
// build-push's IMAGE_DIGEST), for a failed run whose PipelineRun results
// may lack IMAGE_DIGEST.
func (r *Reporter) policyCheck(pr *pipelinev1.PipelineRun) (c run.PolicyCheck, ok bool, err error) {
	for _, ref := range pr.Status.ChildReferences {
		if ref.PipelineTaskName != policyTask || (ref.Kind != "" && ref.Kind != "TaskRun") {
			continue
		}
		tr, err := r.trLister.TaskRuns(pr.Namespace).Get(ref.Name)
		if err != nil {
			return c, false, nil // pruned or not yet seen: nothing to read
		}
		for _, res := range tr.Status.Results {
			if res.Name != resultPolicy {
				continue
			}
			c, err := parsePolicyResult(res.Value.StringVal)
			for _, p := range tr.Spec.Params {
				if p.Name == "image" {
					if _, d, ok := strings.Cut(p.Value.StringVal, "@"); ok && strings.HasPrefix(d, "sha256:") {
						c.Digest = d
					}
				}
			}
			return c, err == nil, err
		}
	}
	return c, false, nil
}

func parsePolicyResult(s string) (run.PolicyCheck, error) {
	var c run.PolicyCheck
	if len(s) > maxPolicyResult {
		return c, fmt.Errorf("policy result of %d bytes is over %d", len(s), maxPolicyResult)
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, fmt.Errorf("policy result: %w", err)
	}
	switch c.Outcome {
	case run.PolicyPassed, run.PolicyFailed, run.PolicyNone:
	default:
		return c, fmt.Errorf("policy result: outcome %q is not passed, failed or none", c.Outcome)
	}
	// The step bounds it already; a hand-edited TaskRun must not grow the store.
	c.Digest, c.RunID = "", ""
	c.Bound()
	return c, nil
}

// savePolicy stores the finished run's policy outcome under its digest.
func (r *Reporter) savePolicy(ctx context.Context, ciRun *run.Run, pr *pipelinev1.PipelineRun) error {
	if r.policyChecks == nil {
		return nil
	}
	c, ok, err := r.policyCheck(pr)
	if err != nil {
		// A malformed result is the step's bug, not a reason to retry.
		r.log.Warn("policy result unreadable", "run", ciRun.ID, "err", err)
		return nil
	}
	if ciRun.ImageDigest != "" {
		c.Digest = ciRun.ImageDigest
	}
	if !ok || c.Digest == "" {
		return nil
	}
	c.RunID = ciRun.ID
	if err := r.policyChecks.SavePolicyCheck(ctx, &c); err != nil {
		return fmt.Errorf("saving the policy check of %s: %w", ciRun.ID, err)
	}
	return nil
}
