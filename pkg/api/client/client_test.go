package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/api/apitest"
	"github.com/slipway-ci/slipway/pkg/api/client"
	"github.com/slipway-ci/slipway/pkg/api/wire"
)

func newClient(t *testing.T, srv *apitest.Server, token string) *client.Client {
	t.Helper()
	c, err := client.New(srv.URL+"/", client.WithToken(token), client.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q): no error", u)
		}
	}
}

func TestRuns(t *testing.T) {
	srv := apitest.New(t)
	ctx := context.Background()
	anon, dev := newClient(t, srv, ""), newClient(t, srv, apitest.Developer)
	// With tokens configured, reads need one.
	if _, err := anon.ListRuns(ctx, client.RunFilter{}); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("anonymous ListRuns: err = %v, want HTTP 401", err)
	}

	runs, err := dev.ListRuns(ctx, client.RunFilter{Repo: "acme/web", State: wire.RunRunning, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.Run{{ID: apitest.RunID, EventID: 1, Provider: "github", Kind: "push", Repo: "acme/web", App: "web",
		Ref: "refs/heads/main", SHA: runs[0].SHA, State: "running", CreatedAt: apitest.T0}}
	if diff := cmp.Diff(want, runs); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	if runs, err := dev.ListRuns(ctx, client.RunFilter{Repo: "other/repo"}); err != nil || len(runs) != 0 {
		t.Errorf("other repo: %v %v", runs, err)
	}
	r, err := dev.GetRun(ctx, apitest.RunID)
	if err != nil || r.ID != apitest.RunID {
		t.Errorf("GetRun = %+v, %v", r, err)
	}
	evs, err := dev.ListEvents(ctx, client.EventFilter{Repo: "acme/web"})
	if err != nil || len(evs) != 1 || evs[0].Delivery != "d-1" {
		t.Errorf("events = %+v, %v", evs, err)
	}

	res, err := dev.Rerun(ctx, apitest.RunID, "key-12345678")
	if err != nil || res.EventID == 0 || res.Duplicate {
		t.Errorf("Rerun = %+v, %v", res, err)
	}
	if res, err := dev.Rerun(ctx, apitest.RunID, "key-12345678"); err != nil || !res.Duplicate {
		t.Errorf("Rerun again = %+v, %v, want a duplicate", res, err)
	}
	if evs, _ := dev.ListEvents(ctx, client.EventFilter{Repo: "acme/web"}); len(evs) != 2 {
		t.Errorf("%d events after a re-run, want 2", len(evs))
	}
	if res, err := dev.Cancel(ctx, apitest.RunID); err != nil || !res.Cancelled {
		t.Errorf("Cancel = %+v, %v", res, err)
	}
	if ns, err := dev.ListNotifications(ctx, client.NotificationFilter{RunID: apitest.RunID, State: "failed"}); err != nil || len(ns) != 0 {
		t.Errorf("notifications = %+v, %v", ns, err)
	}
}

// Errors carry the HTTP status and the server's reason.
func TestErrors(t *testing.T) {
	srv := apitest.New(t)
	ctx := context.Background()
	anon, dev, wrong := newClient(t, srv, ""), newClient(t, srv, apitest.Developer), newClient(t, srv, "wrong-token-0123456789")
	tests := []struct {
		name string
		call func() error
		code int
		msg  string
	}{
		{"cancel without token", func() error { _, err := anon.Cancel(ctx, apitest.RunID); return err }, 401, "missing token"},
		{"rerun with a wrong token", func() error { _, err := wrong.Rerun(ctx, apitest.RunID, ""); return err }, 401, "invalid token"},
		{"read with a wrong token", func() error { _, err := wrong.ListRuns(ctx, client.RunFilter{}); return err }, 401, "invalid token"},
		{"reads need a token", func() error { _, err := anon.ListEvents(ctx, client.EventFilter{}); return err }, 401, "missing token"},
		{"unknown run", func() error { _, err := dev.GetRun(ctx, apitest.Namespace+"/nope"); return err }, 404, "no run slipway-builds/nope"},
		{"malformed run", func() error { _, err := dev.Cancel(ctx, "Builds/x"); return err }, 400, "namespace/name"},
		{"bad state", func() error { _, err := dev.ListRuns(ctx, client.RunFilter{State: "done"}); return err }, 400, "state must be"},
		{"bad key", func() error { _, err := dev.Rerun(ctx, apitest.RunID, "bad key!"); return err }, 400, "request id"},
		{"developer approves", func() error { _, err := dev.Approve(ctx, 1); return err }, 403, "approving needs the release-manager role"},
		{"developer deletes", func() error { return dev.DeleteApp(ctx, "web") }, 403, "admin"},
		{"promotions need a token", func() error { _, err := anon.ListPromotions(ctx, client.PromotionFilter{}); return err }, 401, "missing token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var e *client.Error
			if !errors.As(err, &e) || e.StatusCode != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("error %v, want HTTP %d with %q", err, tt.code, tt.msg)
			}
			if client.StatusCode(err) != tt.code {
				t.Errorf("StatusCode = %d", client.StatusCode(err))
			}
		})
	}
	// A run id that is not namespace/name never leaves the client.
	if _, err := dev.Cancel(ctx, "no-slash"); err == nil || client.StatusCode(err) != 0 {
		t.Errorf("Cancel(no-slash) = %v, want a local error", err)
	}
}

func TestPromotions(t *testing.T) {
	srv := apitest.New(t)
	ctx := context.Background()
	dev, rm, admin := newClient(t, srv, apitest.Developer), newClient(t, srv, apitest.ReleaseManager), newClient(t, srv, apitest.Admin)

	p, err := dev.Promote(ctx, wire.PromoteRequest{App: "shop", To: "prod"})
	if err != nil || p.State != wire.PromotionAwaitingApproval || p.RequestedBy != "dana" {
		t.Fatalf("Promote = %+v, %v", p, err)
	}
	if p, err = rm.Approve(ctx, p.ID); err != nil || p.State != wire.PromotionRunning || p.ApprovedBy != "rita" {
		t.Fatalf("Approve = %+v, %v", p, err)
	}
	if _, err := rm.Approve(ctx, p.ID); client.StatusCode(err) != http.StatusConflict {
		t.Errorf("second approve: %v, want 409", err)
	}
	// A refused promotion is an answer (422), not an error.
	if r, err := dev.Promote(ctx, wire.PromoteRequest{App: "forged", To: "qa"}); err != nil || r.State != wire.PromotionRefused || !r.Terminal() {
		t.Errorf("refused = %+v, %v", r, err)
	}
	if _, err := dev.Promote(ctx, wire.PromoteRequest{App: "shop"}); client.StatusCode(err) != 400 {
		t.Errorf("promote without to: %v, want 400", err)
	}
	rb, err := dev.Rollback(ctx, "shop", "prod")
	if err != nil || rb.Kind != "rollback" {
		t.Errorf("Rollback = %+v, %v", rb, err)
	}
	srv.Promotions.Pause(rb.ID)
	if c, err := rm.Continue(ctx, rb.ID); err != nil || c.State != wire.PromotionRunning {
		t.Errorf("Continue = %+v, %v", c, err)
	}
	if a, err := dev.Abort(ctx, rb.ID); err != nil || a.State != wire.PromotionAborted {
		t.Errorf("Abort = %+v, %v", a, err)
	}
	if g, err := dev.GetPromotion(ctx, 99); client.StatusCode(err) != 404 {
		t.Errorf("GetPromotion(99) = %+v, %v, want 404", g, err)
	}
	ps, err := dev.ListPromotions(ctx, client.PromotionFilter{App: "shop", State: wire.PromotionAborted})
	if err != nil || len(ps) != 1 || ps[0].ID != rb.ID {
		t.Errorf("ListPromotions = %+v, %v", ps, err)
	}
	if err := admin.DeleteApp(ctx, "shop"); err != nil {
		t.Errorf("DeleteApp: %v", err)
	}
	es, err := dev.Audit(ctx, client.AuditFilter{Actor: "rita", PromotionID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Actor+" "+e.Action)
	}
	if diff := cmp.Diff([]string{"rita approve"}, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}
