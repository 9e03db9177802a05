package promote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/advisory"
	"github.com/slipway-ci/slipway/pkg/policy"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/sbom"
)

// FeedLoader reads the advisory feed as it is now (the platform's
// ConfigMap), so a promotion is judged against advisories published since
// the image was built.
type FeedLoader interface {
	LoadFeed(ctx context.Context) (*advisory.Feed, error)
}

// PolicyGate re-checks an image's SBOM against the dependency policy and
// the current advisory feed at promotion time.
type PolicyGate struct {
	// Policy is the platform's policy file; nil applies the built-in
	// default (any advisory is a violation), as `slipway policy check`
	// without --policy does.
	Policy *policy.File
	// Feed is read on every check; required.
	Feed FeedLoader
	// Remote is passed to the registry reads (auth, transport).
	Remote []remote.Option
	// Clock dates ignoreAdvisories expiries. Default: the wall clock.
	Clock clock.PassiveClock
}

// PolicyRefusedError is a refusal by the policy re-check: Check holds the
// violations, for the audit of an override.
type PolicyRefusedError struct {
	RefusedError
	Check run.PolicyCheck
}

// Check evaluates image's SBOM for app. It returns a *PolicyRefusedError
// naming the first advisory or rule when
// the image breaks the policy or has no readable SBOM; other errors (the
// feed unreadable) are not a verdict.
func (g *PolicyGate) Check(ctx context.Context, image name.Digest, app string) error {
	if g.Feed == nil {
		return errors.New("policy gate: an advisory feed is required")
	}
	feed, err := g.Feed.LoadFeed(ctx)
	if err != nil {
		return fmt.Errorf("policy gate: %w", err)
	}
	pkgs, err := sbom.Fetch(ctx, image, g.Remote...)
	if err != nil {
		return &PolicyRefusedError{RefusedError: RefusedError{Reason: fmt.Sprintf("no readable SBOM for %s, so its dependencies cannot be re-checked", image), Err: err}}
	}
	var rules policy.Rules
	if g.Policy != nil {
		// Team seam: "" until apps belong to teams.
		rules = g.Policy.For("", app)
	}
	clk := g.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	res := policy.Evaluate(pkgs, rules, feed, clk.Now())
	if len(res.Violations) == 0 {
		return nil
	}
	c := policy.Check(res, len(pkgs))
	return &PolicyRefusedError{RefusedError: RefusedError{Reason: "dependency policy at promotion time: " + c.Summary()}, Check: c}
}

// IDs lists the advisory ids and rules of the refusal, for an audit line.
func (e *PolicyRefusedError) IDs() string {
	var ids []string
	for _, v := range e.Check.Violations {
		ids = append(ids, v.ID)
	}
	if e.Check.More > 0 {
		ids = append(ids, fmt.Sprintf("+%d more", e.Check.More))
	}
	if len(ids) == 0 {
		return e.Reason
	}
	return strings.Join(ids, ", ")
}
