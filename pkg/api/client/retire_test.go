package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/api/apitest"
	"github.com/slipway-ci/slipway/pkg/api/client"
	"github.com/slipway-ci/slipway/pkg/api/wire"
)

func TestRetireApp(t *testing.T) {
	srv := apitest.New(t)
	ctx := context.Background()
	dev, admin := newClient(t, srv, apitest.Developer), newClient(t, srv, apitest.Admin)
	if _, err := dev.RetireApp(ctx, "shop", true); client.StatusCode(err) != http.StatusForbidden {
		t.Errorf("developer dry run: %v, want 403", err)
	}
	r, err := admin.RetireApp(ctx, "shop", true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&wire.Retirement{App: "shop", DryRun: true, Clusters: []wire.RetiredCluster{}}, r); diff != "" {
		t.Errorf("RetireApp (-want +got):\n%s", diff)
	}
	if apps, err := dev.RemovedApps(ctx); err != nil || len(apps) != 0 {
		t.Errorf("RemovedApps = %v, %v; want none", apps, err)
	}
}

// A cluster that failed is an answer with an error, not a lost answer.
func TestRetireAppPartialFailure(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete || r.URL.Path != "/api/v1/apps/shop" || r.URL.Query().Get("dryRun") != "" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(`{"app":"shop","dryRun":false,"clusters":[{"env":"qa","cluster":"local","namespace":"apps-qa","objects":["deployment/shop"]},{"env":"prod","cluster":"east","namespace":"apps-prod","objects":[],"error":"cluster away"}]}`))
	}))
	defer hs.Close()
	c, err := client.New(hs.URL, client.WithToken("t"), client.WithHTTPClient(hs.Client()))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.RetireApp(context.Background(), "shop", false)
	var re *client.RetirementError
	if !errors.As(err, &re) || err.Error() != "retiring shop failed in prod/east: cluster away" {
		t.Fatalf("RetireApp error = %v, want a RetirementError", err)
	}
	if r == nil || len(r.Clusters) != 2 || r.Clusters[0].Objects[0] != "deployment/shop" {
		t.Errorf("RetireApp = %+v, want both clusters", r)
	}
}

func TestOrphans(t *testing.T) {
	srv := apitest.New(t)
	ctx := context.Background()
	if _, err := newClient(t, srv, apitest.Developer).Orphans(ctx); client.StatusCode(err) != http.StatusForbidden {
		t.Errorf("developer: %v, want 403", err)
	}
	r, err := newClient(t, srv, apitest.ReleaseManager).Orphans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&wire.OrphanReport{Clusters: []wire.RetiredCluster{}}, r); diff != "" {
		t.Errorf("Orphans (-want +got):\n%s", diff)
	}
}
