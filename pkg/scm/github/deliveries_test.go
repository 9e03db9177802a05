package github

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseHooks(t *testing.T) {
	tests := []struct {
		in      string
		want    []Hook
		wantErr string
	}{
		{in: "", want: nil},
		{in: " , ", want: nil},
		{in: "repo:acme/shop:42", want: []Hook{{Kind: RepoHook, Owner: "acme", Repo: "shop", ID: 42}}},
		{in: "org:acme:7,app", want: []Hook{{Kind: OrgHook, Owner: "acme", ID: 7}, {Kind: AppHook}}},
		{in: "repo:my-org/my.repo_2:1", want: []Hook{{Kind: RepoHook, Owner: "my-org", Repo: "my.repo_2", ID: 1}}},
		{in: "repo:acme/shop", wantErr: "want repo:OWNER/NAME:ID, org:NAME:ID or app"},
		{in: "repo:acme/shop:0", wantErr: "not a positive number"},
		{in: "repo:acme/shop:x", wantErr: "not a positive number"},
		{in: "repo:acme:42", wantErr: "want repo:OWNER/NAME:ID"},
		{in: "repo:acme/../x:42", wantErr: "want repo:OWNER/NAME:ID"},
		{in: "org:ac me:7", wantErr: "want org:NAME:ID"},
		{in: "user:acme:7", wantErr: `unknown kind "user"`},
		{in: "app:1", wantErr: "want repo:OWNER/NAME:ID, org:NAME:ID or app"},
		{in: "org:acme:7,org:acme:7", wantErr: "listed twice"},
		{in: "acme/shop", wantErr: "want repo:OWNER/NAME:ID, org:NAME:ID or app"},
	}
	for _, tt := range tests {
		got, err := ParseHooks(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHooks(%q) = %v, %v; want an error mentioning %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseHooks(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseHooks(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// FuzzParseHooks: whatever is configured, a hook parsed prints back as
// itself and parses to the same hook.
func FuzzParseHooks(f *testing.F) {
	for _, s := range []string{"repo:acme/shop:42", "org:acme:7,app", "repo:a/b:1,org:c:2", "repo::", "org:x:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hooks, err := ParseHooks(s)
		if err != nil {
			return
		}
		for _, h := range hooks {
			again, err := ParseHooks(h.String())
			if err != nil || len(again) != 1 || again[0] != h {
				t.Fatalf("hook %+v prints as %q, which parses to %v, %v", h, h.String(), again, err)
			}
		}
	})
}

func TestHookDeliveriesApp(t *testing.T) {
	c, mux := setup(t)
	at := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	mux.HandleFunc("GET /api/v3/app/hook/deliveries", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("per_page"); got != "100" {
			t.Errorf("per_page = %q, want 100", got)
		}
		fmt.Fprintf(w, `[{"id":5,"guid":"g-5","delivered_at":%q,"redelivery":true,"status_code":503,"event":"push"},{"id":6}]`, at.Format(time.RFC3339))
	})
	var asked bool
	mux.HandleFunc("POST /api/v3/app/hook/deliveries/5/attempts", func(w http.ResponseWriter, r *http.Request) {
		asked = true
		w.WriteHeader(http.StatusAccepted)
	})
	got, next, err := c.HookDeliveries(context.Background(), Hook{Kind: AppHook}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Delivery{{ID: 5, GUID: "g-5", DeliveredAt: at, StatusCode: 503, Event: "push", Redelivery: true}}
	if diff := cmp.Diff(want, got); diff != "" || next != "" {
		t.Errorf("HookDeliveries (-want +got):\n%s (next %q)", diff, next)
	}
	if err := c.Redeliver(context.Background(), Hook{Kind: AppHook}, 5); err != nil || !asked {
		t.Errorf("Redeliver = %v (asked %v), want the 202 taken as done", err, asked)
	}
}
