package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *store.DB {
	t.Helper()
	return storetest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"))
}

// ghHost is a go-github client on an httptest mux (the GitHub Enterprise
// paths), and the redeliveries the mux was asked for.
type ghHost struct {
	c   *github.Client
	mux *http.ServeMux

	mu          sync.Mutex
	redelivered []string
}

func newGHHost(t *testing.T) *ghHost {
	t.Helper()
	h := &ghHost{mux: http.NewServeMux()}
	srv := httptest.NewServer(h.mux)
	t.Cleanup(srv.Close)
	c, err := github.NewClient("ghp_token", srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	// GitHub answers a redelivery 202 Accepted.
	h.mux.HandleFunc("POST /api/v3/repos/acme/shop/hooks/42/deliveries/{id}/attempts", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.redelivered = append(h.redelivered, "repo/"+r.PathValue("id"))
		h.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{}`)
	})
	h.mux.HandleFunc("POST /api/v3/orgs/acme/hooks/7/deliveries/{id}/attempts", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.redelivered = append(h.redelivered, "org/"+r.PathValue("id"))
		h.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{}`)
	})
	return h
}

func (h *ghHost) asked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.redelivered...)
}

func delivery(id int64, guid string, at time.Time, code int) string {
	status := "OK"
	if code < 200 || code > 299 {
		status = "failed"
	}
	return fmt.Sprintf(`{"id":%d,"guid":%q,"delivered_at":%q,"redelivery":false,"duration":0.1,"status":%q,"status_code":%d,"event":"push","action":null,"installation_id":null,"repository_id":1}`,
		id, guid, at.Format(time.RFC3339), status, code)
}

var repoHook = github.Hook{Kind: github.RepoHook, Owner: "acme", Repo: "shop", ID: 42}

func TestGitHubPass(t *testing.T) {
	ctx := context.Background()
	h := newGHHost(t)
	st := openStore(t)
	// A delivery recorded before its answer got lost: not asked again.
	if _, _, err := st.RecordEvent(ctx, &event.Event{Provider: event.GitHub, Kind: event.Push, Action: event.Build,
		Delivery: "guid-stored", Repo: "acme/shop", Ref: "refs/heads/main", SHA: "3f786850e387550fdab836ed7e6dc881de23001b"}); err != nil {
		t.Fatal(err)
	}
	pages := 0
	h.mux.HandleFunc("GET /api/v3/repos/acme/shop/hooks/42/deliveries", func(w http.ResponseWriter, r *http.Request) {
		pages++
		switch r.URL.Query().Get("cursor") {
		case "":
			w.Header().Set("Link", fmt.Sprintf(`<http://%s/api/v3/repos/acme/shop/hooks/42/deliveries?per_page=100&cursor=p2>; rel="next"`, r.Host))
			fmt.Fprintf(w, "[%s,%s,%s,%s,%s]",
				delivery(9, "guid-redelivered-ok", now.Add(-5*time.Minute), 202), // a newer 2xx of the same event
				delivery(8, "guid-down", now.Add(-10*time.Minute), 0),            // Slipway was down
				delivery(7, "guid-stored", now.Add(-20*time.Minute), 502),
				delivery(6, "guid-refused", now.Add(-30*time.Minute), 401), // Slipway's verdict
				delivery(5, "guid-redelivered-ok", now.Add(-40*time.Minute), 503),
			)
		case "p2":
			w.Header().Set("Link", fmt.Sprintf(`<http://%s/api/v3/repos/acme/shop/hooks/42/deliveries?per_page=100&cursor=p3>; rel="next"`, r.Host))
			fmt.Fprintf(w, "[%s,%s]",
				delivery(4, "guid-busy", now.Add(-2*time.Hour), 503),
				delivery(3, "guid-old", now.Add(-4*time.Hour), 503), // outside the window
			)
		default:
			t.Error("read past the window")
			fmt.Fprint(w, "[]")
		}
	})
	reg := prometheus.NewRegistry()
	m, err := NewMetric(reg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGitHub(h.c, st, []github.Hook{repoHook}, Options{Interval: time.Minute, Clock: clocktesting.NewFakeClock(now), Recovered: m})
	if err != nil {
		t.Fatal(err)
	}
	n, err := g.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"repo/8", "repo/4"}, h.asked()); diff != "" {
		t.Errorf("redelivered (-want +got):\n%s", diff)
	}
	if n != 2 || pages != 2 {
		t.Errorf("Pass = %d redeliveries over %d pages, want 2 over 2", n, pages)
	}
	if got := testutil.ToFloat64(m.WithLabelValues("github", HowRedelivered)); got != 2 {
		t.Errorf("slipway_recovered_deliveries_total = %v, want 2", got)
	}

	// The redeliveries have not shown up yet: the second pass asks nothing.
	if n, err := g.Pass(ctx); err != nil || n != 0 {
		t.Errorf("second Pass = %d, %v; want 0, nil", n, err)
	}
	if got := len(h.asked()); got != 2 {
		t.Errorf("after the second pass %d redeliveries were asked, want 2", got)
	}
}

func TestGitHubRateLimitStopsPass(t *testing.T) {
	ctx := context.Background()
	h := newGHHost(t)
	h.mux.HandleFunc("GET /api/v3/repos/acme/shop/hooks/42/deliveries", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"message":"slow down"}`)
	})
	h.mux.HandleFunc("GET /api/v3/orgs/acme/hooks/7/deliveries", func(w http.ResponseWriter, r *http.Request) {
		t.Error("the pass went on to the next hook after a rate limit")
		fmt.Fprint(w, "[]")
	})
	g, err := NewGitHub(h.c, openStore(t), []github.Hook{repoHook, {Kind: github.OrgHook, Owner: "acme", ID: 7}},
		Options{Interval: time.Minute, Clock: clocktesting.NewFakeClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Pass(ctx)
	var rl *errRateLimited
	if !errors.As(err, &rl) {
		t.Fatalf("Pass error = %v, want a rate limit", err)
	}
	if rl.after != 120*time.Second {
		t.Errorf("retry after %s, want 2m0s", rl.after)
	}
	if got := h.asked(); len(got) != 0 {
		t.Errorf("redelivered %v during a rate limit", got)
	}
}

func TestGitHubFailedRedeliveryIsAskedAgain(t *testing.T) {
	ctx := context.Background()
	h := newGHHost(t)
	h.mux.HandleFunc("GET /api/v3/repos/acme/shop/hooks/42/deliveries", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "[%s]", delivery(11, "guid-down", now.Add(-time.Minute), 504))
	})
	g, err := NewGitHub(h.c, openStore(t), []github.Hook{repoHook}, Options{Interval: time.Minute, Clock: clocktesting.NewFakeClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	// The hook's own redelivery route answers 404 first (a permanent
	// error the pass reports), then is mended.
	broken := http.NewServeMux()
	broken.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	})
	srv := httptest.NewServer(broken)
	defer srv.Close()
	bc, err := github.NewClient("ghp_token", srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	g.host = struct {
		listOnly
		redeliverer
	}{listOnly{h.c}, bc}
	if n, err := g.Pass(ctx); err == nil || n != 0 {
		t.Fatalf("Pass with a failing redelivery = %d, %v; want 0 and the error", n, err)
	}
	g.host = h.c
	if n, err := g.Pass(ctx); err != nil || n != 1 {
		t.Fatalf("Pass after the failure = %d, %v; want 1, nil", n, err)
	}
	if diff := cmp.Diff([]string{"repo/11"}, h.asked()); diff != "" {
		t.Errorf("redelivered (-want +got):\n%s", diff)
	}
}

// listOnly and redeliverer split a client so the list comes from one
// host and the redelivery goes to another.
type listOnly struct{ c *github.Client }

func (l listOnly) HookDeliveries(ctx context.Context, hook github.Hook, cursor string) ([]github.Delivery, string, error) {
	return l.c.HookDeliveries(ctx, hook, cursor)
}

type redeliverer interface {
	Redeliver(ctx context.Context, hook github.Hook, id int64) error
}

func TestNewRefusesBadOptions(t *testing.T) {
	h := newGHHost(t)
	st := openStore(t)
	for name, o := range map[string]Options{
		"no interval":     {},
		"negative window": {Interval: time.Minute, Window: -time.Hour},
	} {
		if _, err := NewGitHub(h.c, st, []github.Hook{repoHook}, o); err == nil {
			t.Errorf("%s: NewGitHub: want an error", name)
		}
	}
	if _, err := NewGitHub(h.c, st, nil, Options{Interval: time.Minute}); err == nil {
		t.Error("NewGitHub without hooks: want an error")
	}
}
