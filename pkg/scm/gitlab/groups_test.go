package gitlab

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pkg/scm"
)

func TestMemberOf(t *testing.T) {
	const dev = `[{"id":9,"username":"dev"}]`
	for _, tc := range []struct {
		name          string
		users         string
		status        int
		member        string
		want          bool
		wantErr       string
		wantTransient bool
	}{
		{name: "developer", users: dev, status: 200, member: `{"id":9,"access_level":30,"state":"active"}`, want: true},
		{name: "owner", users: dev, status: 200, member: `{"id":9,"access_level":50,"state":"active"}`, want: true},
		{name: "reporter", users: dev, status: 200, member: `{"id":9,"access_level":20,"state":"active"}`},
		{name: "guest", users: dev, status: 200, member: `{"id":9,"access_level":10,"state":"active"}`},
		{name: "blocked", users: dev, status: 200, member: `{"id":9,"access_level":40,"state":"blocked"}`},
		{name: "awaiting a seat", users: dev, status: 200, member: `{"id":9,"access_level":40,"state":"awaiting"}`},
		{name: "not a member", users: dev, status: 404, member: `{"message":"404 Not found"}`},
		{name: "unknown user", users: `[]`},
		{name: "another user's name", users: `[{"id":8,"username":"devops"}]`},
		{name: "server error", users: dev, status: 503, member: `{}`, wantErr: "gitlab membership of dev in group acme/core", wantTransient: true},
		{name: "forbidden", users: dev, status: 403, member: `{"message":"403 Forbidden"}`, wantErr: "gitlab membership of dev in group acme/core"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, mux := setup(t)
			mux.HandleFunc("GET /api/v4/users", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("username") != "dev" {
					t.Errorf("users query = %q", r.URL.RawQuery)
				}
				fmt.Fprint(w, tc.users)
			})
			calls := 0
			mux.HandleFunc("GET /api/v4/groups/{gid}/members/all/{uid}", func(w http.ResponseWriter, r *http.Request) {
				calls++
				if !strings.HasPrefix(r.URL.EscapedPath(), "/api/v4/groups/acme%2Fcore/members/all/9") {
					t.Errorf("path %s, want the group's escaped full path and the user's id", r.URL.EscapedPath())
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.member)
			})
			got, err := c.MemberOf(context.Background(), "acme/core", "dev")
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
				t.Errorf("%d membership calls, want %d", calls, wantCalls)
			}
		})
	}
}

func TestMemberOfLookupError(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /api/v4/users", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	got, err := c.MemberOf(context.Background(), "acme/core", "dev")
	if ok, _ := scm.IsTransient(err); got || !ok {
		t.Errorf("MemberOf = %v, %v; want false and a transient error", got, err)
	}
	for _, args := range [][2]string{{"", "dev"}, {"acme/core", ""}} {
		if _, err := c.MemberOf(context.Background(), args[0], args[1]); err == nil {
			t.Errorf("MemberOf(%q, %q): no error", args[0], args[1])
		}
	}
}
