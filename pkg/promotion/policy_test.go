package promotion

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slipway-ci/slipway/pkg/promote"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// policyFake refuses the digests in refuse as promote.PolicyGate does
// (its own test runs it on a registry with sbomtest images).
type policyFake struct {
	mu     sync.Mutex
	refuse map[string]bool
	err    error
	calls  []string
}

func (f *policyFake) Check(_ context.Context, image name.Digest, app string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, app+"@"+image.DigestStr())
	if f.err != nil {
		return f.err
	}
	if !f.refuse[image.DigestStr()] {
		return nil
	}
	c := run.PolicyCheck{Outcome: run.PolicyFailed, Packages: 3, Violations: []run.PolicyViolation{
		{Package: "example.com/slipway-vuln", Version: "v1.0.0", Rule: "advisory", ID: "SLIPWAY-2026-0001", Fixed: "1.2.0"}}}
	return &promote.PolicyRefusedError{RefusedError: promote.RefusedError{Reason: "dependency policy at promotion time: " + c.Summary()}, Check: c}
}

// withPolicy makes prod re-check the policy through f.
func (e *env) withPolicy(f *policyFake) {
	e.t.Helper()
	e.cfg.Environments[1].Policy.Recheck = true
	e.svc = e.newService(func(o *Options) { o.Policy = f })
}

func TestPolicyRecheckAtPromotion(t *testing.T) {
	const reason = "CVE triaged: the vulnerable function is not linked (INC-4711)"
	tests := []struct {
		name      string
		who       Caller
		override  string
		wantErr   error
		wantState release.PromotionState
		// wantAudit are the audit lines of the request, oldest first.
		wantAudit []string
	}{
		{name: "refused, naming the advisory", who: rm, wantState: release.PromotionRefused,
			wantAudit: []string{"rita promote refused: promotion refused: dependency policy at promotion time: 1 policy violation, first: example.com/slipway-vuln v1.0.0: SLIPWAY-2026-0001 (fixed in 1.2.0)"}},
		{name: "an admin without a reason is refused too", who: adm, override: "  ", wantState: release.PromotionRefused},
		{name: "a release manager may not override", who: rm, override: reason, wantErr: ErrForbidden,
			wantAudit: []string{"rita promote forbidden: overriding the dependency policy needs the admin role; rita is a release-manager"}},
		{name: "a developer may not override", who: dev, override: reason, wantErr: ErrForbidden},
		{name: "a reason too long", who: adm, override: strings.Repeat("x", maxOverrideReason+1), wantErr: ErrInvalid},
		{name: "an admin overrides with a reason", who: adm, override: reason, wantState: release.PromotionRunning,
			wantAudit: []string{
				"ada policy-override overridden: " + reason + " (refused for SLIPWAY-2026-0001)",
				"ada promote accepted",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.runningInQA(commitA, builder)
			f := &policyFake{refuse: map[string]bool{d: true}}
			e.withPolicy(f)
			p, err := e.svc.Promote(context.Background(), tc.who, Request{App: "shop", To: "prod", PolicyOverride: tc.override})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Promote = %+v, %v; want %v", p, err, tc.wantErr)
				}
				if ps, _ := e.st.ListPromotions(context.Background(), store.PromotionFilter{App: "shop"}); len(ps) != 0 {
					t.Errorf("a %v request recorded promotions %+v", tc.wantErr, ps)
				}
				if len(f.calls) != 0 {
					t.Errorf("the policy was checked for a request refused up front: %v", f.calls)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if p.State != tc.wantState {
					t.Fatalf("state %s (reason %q), want %s", p.State, p.Reason, tc.wantState)
				}
				if diff := cmp.Diff([]string{"shop@" + d}, f.calls); diff != "" {
					t.Errorf("policy checks (-want +got):\n%s", diff)
				}
			}
			if tc.wantAudit == nil {
				return
			}
			a, _ := e.st.ListAudit(context.Background(), store.AuditFilter{App: "shop"})
			var got []string
			for i := len(a) - 1; i >= 0; i-- {
				got = append(got, a[i].Actor+" "+a[i].Action+" "+a[i].Result)
			}
			if diff := cmp.Diff(tc.wantAudit, got); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyRecheckOnlyWhereConfigured(t *testing.T) {
	e := newEnv(t)
	d := e.runningInQA(commitA, builder)
	f := &policyFake{refuse: map[string]bool{d: true}}
	// prod does not re-check: the gate is not asked.
	svc := e.newService(func(o *Options) { o.Policy = f })
	p, err := svc.Promote(context.Background(), rm, Request{App: "shop", To: "prod"})
	if err != nil || p.State == release.PromotionRefused {
		t.Fatalf("Promote = %+v, %v", p, err)
	}
	if len(f.calls) != 0 {
		t.Errorf("policy checked for an environment without recheck: %v", f.calls)
	}
}

func TestPolicyRecheckFeedErrorIsNoVerdict(t *testing.T) {
	e := newEnv(t)
	e.runningInQA(commitA, builder)
	e.withPolicy(&policyFake{err: errors.New("advisory feed ConfigMap not found")})
	p, err := e.svc.Promote(context.Background(), adm, Request{App: "shop", To: "prod", PolicyOverride: "urgent"})
	if err == nil || !strings.Contains(err.Error(), "advisory feed ConfigMap not found") {
		t.Fatalf("Promote = %+v, %v; want the feed error (an override passes refusals, not failures)", p, err)
	}
	if ps, _ := e.st.ListPromotions(context.Background(), store.PromotionFilter{App: "shop"}); len(ps) != 0 {
		t.Errorf("recorded %+v", ps)
	}
}

func TestNewNeedsAPolicyGateForRecheck(t *testing.T) {
	e := newEnv(t)
	e.cfg.Environments[1].Policy.Recheck = true
	_, err := New(e.cfg, e.st, e.st, &promote.Gate{BuilderID: builder, Runs: promote.StoreRuns{Runs: runsFake{}}}, e.tc,
		Options{Namespace: ns, SlipwayImage: "reg/slipway", Informers: e.informers, PollInterval: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "environment prod re-checks the dependency policy") {
		t.Errorf("New = %v, want a configuration error", err)
	}
}
