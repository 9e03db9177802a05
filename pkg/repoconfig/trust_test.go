package repoconfig

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTrusted(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Trusted
		wantErr  string
	}{
		{name: "users and keep", in: "trusted:\n  users: [alice, Renovate-Bot]\n  keepApprovals: true\n",
			want: Trusted{Users: []string{"alice", "Renovate-Bot"}, KeepApprovals: true}},
		{name: "none", in: "app: web\n", want: Trusted{}},
		{name: "empty name", in: "trusted: {users: [\"\"]}", wantErr: "trusted.users[0]"},
		{name: "name with space", in: "trusted: {users: [\"a b\"]}", wantErr: "is not a user name"},
		{name: "unknown field", in: "trusted: {teams: [x]}", wantErr: "unknown field"},
		{name: "too many", in: "trusted: {users: [" + strings.Repeat("u,", MaxTrustedUsers) + "u]}", wantErr: "more than the 1000 allowed"},
		{name: "groups", in: "trusted:\n  groups: [acme/maintainers, Acme/Platform/Release.Team, top_group, a-b/c_d.e]\n",
			want: Trusted{Groups: []string{"acme/maintainers", "Acme/Platform/Release.Team", "top_group", "a-b/c_d.e"}}},
		{name: "users and groups", in: "trusted: {users: [alice], groups: [acme/core]}",
			want: Trusted{Users: []string{"alice"}, Groups: []string{"acme/core"}}},
		{name: "deepest GitLab subgroup", in: "trusted: {groups: [" + strings.Repeat("g/", maxGroupDepth-1) + "g]}",
			want: Trusted{Groups: []string{strings.Repeat("g/", maxGroupDepth-1) + "g"}}},
		{name: "empty group", in: `trusted: {groups: [""]}`, wantErr: "trusted.groups[0]"},
		{name: "empty segment", in: "trusted: {groups: [acme//core]}", wantErr: "is not a group"},
		{name: "leading slash", in: "trusted: {groups: [/acme/core]}", wantErr: "is not a group"},
		{name: "trailing slash", in: "trusted: {groups: [acme/core/]}", wantErr: "is not a group"},
		{name: "dot dot", in: "trusted: {groups: [acme/../admins]}", wantErr: "is not a group"},
		{name: "dot", in: "trusted: {groups: [acme/.]}", wantErr: "is not a group"},
		{name: "leading hyphen", in: "trusted: {groups: [acme/-core]}", wantErr: "is not a group"},
		{name: "space", in: `trusted: {groups: ["acme/core team"]}`, wantErr: "is not a group"},
		{name: "query", in: `trusted: {groups: ["acme/core?x=1"]}`, wantErr: "is not a group"},
		{name: "escape", in: `trusted: {groups: ["acme/%2e%2e"]}`, wantErr: "is not a group"},
		{name: "at sign", in: `trusted: {groups: ["@acme/core"]}`, wantErr: "is not a group"},
		{name: "non-ASCII", in: `trusted: {groups: ["acme/cœur"]}`, wantErr: "is not a group"},
		{name: "second one bad", in: `trusted: {groups: [acme/core, "a b"]}`, wantErr: "trusted.groups[1]"},
		{name: "too deep", in: "trusted: {groups: [" + strings.Repeat("g/", maxGroupDepth) + "g]}", wantErr: "is not a group"},
		{name: "too long", in: "trusted: {groups: [" + strings.Repeat("g", 256) + "]}", wantErr: "is not a group"},
		{name: "not a list", in: "trusted: {groups: acme/core}", wantErr: "parsing"},
		{name: "too many groups", in: "trusted: {groups: [" + strings.Repeat("o/t,", MaxTrustedGroups) + "o/t]}", wantErr: "21 groups, more than the 20 allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.Trusted); diff != "" {
				t.Errorf("trusted (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrustsUser(t *testing.T) {
	c := &Config{Trusted: Trusted{Users: []string{"Alice", "dependabot[bot]"}}}
	for user, want := range map[string]bool{"alice": true, "ALICE": true, "dependabot[bot]": true, "mallory": false, "": false} {
		if got := c.TrustsUser(user); got != want {
			t.Errorf("TrustsUser(%q) = %v, want %v", user, got, want)
		}
	}
}

func TestForMergeRequest(t *testing.T) {
	yes := true
	base := &Config{App: "web", Branches: []string{"main"}, Paths: []string{"src/**"},
		CancelInProgress: &CancelPolicy{Branches: &yes},
		Trusted:          Trusted{Users: []string{"alice"}, Groups: []string{"acme/core"}},
		Build:            Build{TestCommand: "make test"}}
	head := &Config{App: "evil", Branches: []string{"*"}, Paths: []string{"app/**"}, IgnorePaths: []string{"docs/**"},
		Trusted: Trusted{Users: []string{"mallory"}, Groups: []string{"evil/accomplices"}, KeepApprovals: true},
		Build:   Build{TestCommand: "go test ./...", Dockerfile: "build/Dockerfile"}}
	for _, tc := range []struct {
		name       string
		base, head *Config
		want       *Config
	}{
		{"head cannot choose app, trust or filters", base, head, &Config{App: "web", Branches: []string{"main"},
			Paths: []string{"app/**"}, IgnorePaths: []string{"docs/**"}, CancelInProgress: &CancelPolicy{Branches: &yes},
			Trusted: Trusted{Users: []string{"alice"}, Groups: []string{"acme/core"}}, Build: Build{TestCommand: "go test ./...", Dockerfile: "build/Dockerfile"}}},
		{"no file on the default branch", nil, head, &Config{Paths: []string{"app/**"}, IgnorePaths: []string{"docs/**"},
			Build: Build{TestCommand: "go test ./...", Dockerfile: "build/Dockerfile"}}},
		{"no file at the head", base, nil, &Config{App: "web", Branches: []string{"main"},
			CancelInProgress: &CancelPolicy{Branches: &yes}, Trusted: Trusted{Users: []string{"alice"}, Groups: []string{"acme/core"}}}},
		{"neither", nil, nil, &Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ForMergeRequest(tc.base, tc.head)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ForMergeRequest (-want +got):\n%s", diff)
			}
		})
	}
	if base.Paths[0] != "src/**" {
		t.Error("ForMergeRequest changed its base")
	}
}
