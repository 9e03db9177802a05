package github

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pkg/scm"
)

func TestMemberOf(t *testing.T) {
	for _, tc := range []struct {
		name          string
		group         string
		status        int
		body          string
		want          bool
		wantErr       string
		wantTransient bool
	}{
		{name: "active member", group: "acme/core", status: 200, body: `{"state":"active","role":"member"}`, want: true},
		{name: "active maintainer", group: "acme/core", status: 200, body: `{"state":"active","role":"maintainer"}`, want: true},
		{name: "pending invitation", group: "acme/core", status: 200, body: `{"state":"pending","role":"member"}`},
		{name: "no state", group: "acme/core", status: 200, body: `{"role":"member"}`},
		{name: "not a member", group: "acme/core", status: 404, body: `{"message":"Not Found"}`},
		{name: "server error", group: "acme/core", status: 502, body: `{}`, wantErr: "github membership of octo in team acme/core", wantTransient: true},
		{name: "rate limited", group: "acme/core", status: 429, body: `{}`, wantErr: "github membership", wantTransient: true},
		{name: "forbidden", group: "acme/core", status: 403, body: `{"message":"Resource not accessible by integration"}`, wantErr: "Resource not accessible"},
		{name: "no team", group: "acme", wantErr: "want org/team-slug"},
		{name: "GitLab subgroup", group: "acme/core/release", wantErr: "want org/team-slug"},
		{name: "empty org", group: "/core", wantErr: "want org/team-slug"},
		{name: "dot dot", group: "acme/..", wantErr: "want org/team-slug"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, mux := setup(t)
			calls := 0
			mux.HandleFunc("GET /api/v3/orgs/acme/teams/core/memberships/octo", func(w http.ResponseWriter, r *http.Request) {
				calls++
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			got, err := c.MemberOf(context.Background(), tc.group, "octo")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tc.wantErr)
				}
				if ok, _ := scm.IsTransient(err); ok != tc.wantTransient {
					t.Errorf("transient = %v, want %v: %v", ok, tc.wantTransient, err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("MemberOf = %v, want %v", got, tc.want)
			}
			if wantCalls := map[bool]int{true: 1}[tc.status != 0]; calls != wantCalls {
				t.Errorf("%d API calls, want %d", calls, wantCalls)
			}
		})
	}
	c, _ := setup(t)
	if _, err := c.MemberOf(context.Background(), "acme/core", ""); err == nil {
		t.Error("MemberOf with an empty user: no error")
	}
}
