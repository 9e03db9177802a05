package dispatch

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/scm"
)

const (
	postgresService = "services:\n  - {name: db, image: registry.local:5000/base/postgres:15, ports: [5432]}\n"
	sonarStep       = "steps:\n  - {name: sonar, when: after-tests, command: [sonar-scanner], env: [{name: TOKEN, secretRef: {name: sonar-token, key: token}}]}\n"
)

var stepPolicy = repoconfig.StepPolicy{
	Images:  []string{"registry.local:5000/base/*"},
	Secrets: []repoconfig.SecretGrant{{Name: "sonar-token", Repos: []string{"acme/*"}}},
}

// Steps and services the platform does not allow fail the event with the
// reason, on the event and as a failure commit status, and create no
// PipelineRun; allowed ones build with the unit-test task extended.
func TestStepsAndServicesAllowlist(t *testing.T) {
	for _, tc := range []struct {
		name         string
		policy       repoconfig.StepPolicy
		base, head   string
		ev           event.Event
		wantState    event.State
		wantReason   string
		wantStatuses []string
	}{
		{name: "allowed service", policy: stepPolicy, head: postgresService, ev: push("main", shaA, "d1"), wantState: event.Dispatched},
		{name: "no step images by default", head: postgresService, ev: push("main", shaA, "d1"), wantState: event.Failed,
			wantReason:   `.slipway.yaml: services[0] (db): image "registry.local:5000/base/postgres:15" is not one the platform allows (slipway serve's step-images); use "build", the app's build image, or ask the platform team`,
			wantStatuses: []string{shaA[:8] + ` failure slipway/ci: .slipway.yaml: services[0] (db): image "registry.local:5000/base/postgres:15" is not one the platform allows (slipway serve's step-images); use "build", the app's build image, or ask the platform team`}},
		{name: "image not allowed", policy: stepPolicy, head: "services:\n  - {name: db, image: docker.io/library/postgres, ports: [5432]}\n",
			ev: push("main", shaA, "d1"), wantState: event.Failed, wantReason: `image "docker.io/library/postgres" is not one the platform allows`},
		{name: "granted secret", policy: stepPolicy, head: sonarStep, ev: push("main", shaA, "d1"), wantState: event.Dispatched},
		{name: "no secrets by default", head: sonarStep, ev: push("main", shaA, "d1"), wantState: event.Failed,
			wantReason: `.slipway.yaml: steps[0] (sonar): env TOKEN: Secret "sonar-token" is not one acme/web may read (slipway serve's step-secrets)`},
		{name: "invalid steps", policy: stepPolicy, head: "steps: [{name: Lint, command: [x]}]", ev: push("main", shaA, "d1"), wantState: event.Failed,
			wantReason:   `invalid .slipway.yaml: steps[0]: name "Lint": use lowercase letters, digits and '-' (max 40)`,
			wantStatuses: []string{shaA[:8] + ` failure slipway/ci: invalid .slipway.yaml: steps[0]: name "Lint": use lowercase letters, digits and '-' (max 40)`}},
		{name: "MR runs the default branch's secret step", policy: stepPolicy, base: sonarStep, head: sonarStep,
			ev: byAuthor("maintainer", shaA, "d1"), wantState: event.Dispatched},
		{name: "MR may not change a secret step", policy: stepPolicy, base: sonarStep, head: strings.Replace(sonarStep, "[sonar-scanner]", "[sh, -c, 'echo $TOKEN']", 1),
			ev: byAuthor("maintainer", shaA, "d1"), wantState: event.Failed,
			wantReason: `.slipway.yaml: steps[0] (sonar) reads Secret "sonar-token": in a merge request a step may read a Secret only as the default branch's .slipway.yaml defines it, unchanged`},
		{name: "MR may not add a secret step", policy: stepPolicy, head: sonarStep, ev: byAuthor("maintainer", shaA, "d1"), wantState: event.Failed,
			wantReason: `steps[0] (sonar) reads Secret "sonar-token"`},
		{name: "MR adds a service", policy: stepPolicy, head: postgresService, ev: byAuthor("maintainer", shaA, "d1"), wantState: event.Dispatched},
		{name: "an untrusted MR's bad image fails before it waits", policy: repoconfig.StepPolicy{}, head: postgresService,
			ev: byAuthor("drive-by", shaA, "d1"), wantState: event.Failed, wantReason: "is not one the platform allows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, f, _ := gated(t)
			h.d.run.Steps = tc.policy
			f.files["main"], f.files[shaA] = tc.base, tc.head
			id := h.store.add(tc.ev)
			h.step(t)
			got := h.outcome(id)
			if got.State != tc.wantState || !strings.Contains(got.Reason, tc.wantReason) {
				t.Errorf("event %s %q, want %s with %q", got.State, got.Reason, tc.wantState, tc.wantReason)
			}
			prs := h.runs(t)
			if tc.wantState != event.Dispatched {
				if len(prs) != 0 {
					t.Errorf("%d PipelineRuns, want none", len(prs))
				}
				statuses := f.statusLines()
				if len(statuses) != 1 || !strings.HasPrefix(statuses[0], shaA[:8]+" failure slipway/ci: ") || !strings.Contains(statuses[0], tc.wantReason) {
					t.Errorf("statuses %q, want one failure with %q", statuses, tc.wantReason)
				}
				if tc.wantStatuses != nil {
					if diff := cmp.Diff(tc.wantStatuses, statuses); diff != "" {
						t.Errorf("statuses (-want +got)\n%s", diff)
					}
				}
				return
			}
			if len(prs) != 1 || prs[0].Spec.PipelineSpec == nil {
				t.Fatalf("%d PipelineRuns, want one with the pipeline embedded", len(prs))
			}
			if s := f.statusLines(); len(s) != 0 {
				t.Errorf("statuses %q, want none from dispatch", s)
			}
		})
	}
}

// A .slipway.yaml that does not parse now says so on the commit too.
func TestBadConfigPostsFailureStatus(t *testing.T) {
	h, f := newMRHarness(t)
	f.files[shaA] = "brnches: [main]\n"
	id := h.store.add(push("main", shaA, "d1"))
	h.step(t)
	if got := h.outcome(id); got.State != event.Failed || !strings.Contains(got.Reason, `unknown field "brnches"`) {
		t.Errorf("event = %+v, want failed with the parse error", got)
	}
	st := f.statusLines()
	if len(st) != 1 || !strings.Contains(st[0], `failure slipway/ci: parsing .slipway.yaml: error unmarshaling JSON: while decoding JSON: json: unknown field "brnches"`) {
		t.Errorf("statuses %q, want one failure naming the unknown field", st)
	}
}

// statusFails is an SCM whose commit status posts fail with err.
type statusFails struct {
	*mrSCM
	err error
}

func (f statusFails) SetStatus(context.Context, scm.Repo, scm.Status) error { return f.err }

// A failure status the host could not take now is retried with the event
// (the retry fails the same way and posts again); one it refuses for good
// still fails the event, and the reason says the status was not posted.
func TestInvalidConfigStatusPostFails(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantState event.State
		wantText  string
	}{
		{"transient", retry.Transient(errors.New("502 bad gateway")), event.Queued, "posting the failure status"},
		{"refused", errors.New("422 unprocessable"), event.Failed, "posting the failure status failed: 422 unprocessable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, f := newMRHarness(t)
			failing := statusFails{f, tc.err}
			h.d.scms = map[event.Provider]scm.Client{event.GitHub: failing, event.GitLab: failing}
			f.files[shaA] = postgresService
			id := h.store.add(push("main", shaA, "d1"))
			h.step(t)
			ev := h.store.get(id)
			text := ev.Reason
			if tc.wantState == event.Queued {
				text = ev.LastError
			}
			if ev.State != tc.wantState || !strings.Contains(text, tc.wantText) || !strings.Contains(text, "is not one the platform allows") {
				t.Errorf("event %s, reason %q, last error %q: want %s with %q", ev.State, ev.Reason, ev.LastError, tc.wantState, tc.wantText)
			}
			if n := len(h.runs(t)); n != 0 {
				t.Errorf("%d PipelineRuns, want none", n)
			}
		})
	}
}
