package ui

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/insights"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/store"
)

// withInsights shows the keys of app web in qa and prod a week after t0,
// over the store's promotions.
func withInsights(st *store.DB) []Option {
	return []Option{WithInsights(insights.New(st, []string{"web"}, []string{"qa", "prod"},
		insights.WithClock(clocktesting.NewFakePassiveClock(t0.Add(7*24*time.Hour)))))}
}

// promoted records a promotion of web into env that ended in state at end.
func promoted(t *testing.T, st *store.DB, env string, state release.PromotionState, end time.Time) {
	t.Helper()
	p := &release.Promotion{Kind: release.KindPromote, App: "web", To: env, Digest: "sha256:a", State: state,
		RequestedBy: "rita", PipelineRuns: []string{ns + "/deploy"}, FinishedAt: end}
	if err := st.CreatePromotion(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

var insightsRowRE = regexp.MustCompile(`<td data-label="[^"]+" data-key="([a-z-]+)">([^<]*)`)

func TestInsightsPage(t *testing.T) {
	e := newEnvWith(t, nil, withInsights)
	// prod: both created at t0; one rollout ended 1h later, one rolled
	// back ended 3h later, down from when the first freed the slot (1h)
	// to 3h: 2h.
	promoted(t, e.st, "prod", release.PromotionSucceeded, t0.Add(time.Hour))
	promoted(t, e.st, "prod", release.PromotionFailed, t0.Add(3*time.Hour))

	code, body, hdr := e.get("/insights?window=7d&env=prod")
	if code != 200 {
		t.Fatalf("insights page: %d\n%s", code, body)
	}
	var got []string
	for _, m := range insightsRowRE.FindAllStringSubmatch(body, -1) {
		got = append(got, m[1]+"="+strings.TrimSpace(m[2]))
	}
	// 1 deployment in 7 days = 0.14/day; no commit, so no lead time;
	// 1 of 2 changes failed; restored after 2h.
	want := []string{"deployments=1", "per-day=0.14", "lead-time=—", "change-failure-rate=50 %", "time-to-restore=2h 00m"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	for _, s := range []string{
		`<a href="/insights" aria-current="page">Insights</a>`,
		`<option value="7d" selected>last 7d</option>`,
		`<option value="prod" selected>prod</option>`,
		`<svg xmlns="http://www.w3.org/2000/svg" class="chart"`,
		`<title>Mar 1: 1</title>`,
		`No data in this window`,
		`(1 of 2)`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if strings.Contains(body, `data-env="qa"`) {
		t.Error("env=prod shows qa too")
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q: the charts must need nothing from elsewhere", csp)
	}
}

func TestInsightsPageBadInput(t *testing.T) {
	e := newEnvWith(t, nil, withInsights)
	for _, tc := range []struct{ query, want string }{
		{"window=0d", "whole days from 1d to 90d"},
		{"window=soon", "want whole days such as 30d"},
		{"app=shop", `no app &#34;shop&#34;`},
		{"env=%3Cb%3Estaging", `no environment &#34;&lt;b&gt;staging&#34;`},
	} {
		code, body, _ := e.get("/insights?" + tc.query)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: code %d, want 400 saying %s\n%s", tc.query, code, tc.want, body)
		}
	}
}

func TestInsightsPageNotLinkedWithout(t *testing.T) {
	e := newEnv(t, nil)
	if code, _, _ := e.get("/insights"); code != 404 {
		t.Errorf("/insights without WithInsights: %d, want 404", code)
	}
	if _, body, _ := e.get("/runs"); strings.Contains(body, `href="/insights"`) {
		t.Error("the navigation links a page that is not there")
	}
}
