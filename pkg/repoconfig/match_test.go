package repoconfig

import (
	"fmt"
	"path"
	"strings"
	"testing"
)

// matchRef is the plain backtracking matcher Match replaced: obviously
// right, exponential in the number of "**". The fuzz target checks Match
// against it on inputs small enough for it.
func matchRef(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchRef(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	if ok, _ := path.Match(pat[0], name[0]); !ok {
		return false
	}
	return matchRef(pat[1:], name[1:])
}

func TestMatchEdges(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"**", "", true},
		{"**", "a/b/c", true},
		{"**/**", "a", true},
		{"", "", true},
		{"", "a", false},
		{"a/**", "a", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"**/a/**", "x/a", true},
		{"*", "a/b", false},
		{"[", "[", false}, // bad syntax never matches
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestParseCaps(t *testing.T) {
	many := make([]string, MaxPatterns+1)
	for i := range many {
		many[i] = fmt.Sprintf("%q", fmt.Sprintf("d%d/**", i))
	}
	tests := []struct {
		name    string
		in      string
		wantErr string // "" = parses
	}{
		{name: "at the count cap", in: "paths: [" + strings.Join(many[:MaxPatterns], ",") + "]"},
		{name: "over the count cap", in: "paths: [" + strings.Join(many, ",") + "]", wantErr: "paths: 101 patterns, more than the 100 allowed"},
		{name: "at the length cap", in: "ignorePaths: [" + strings.Repeat("a", MaxPatternBytes) + "]"},
		{name: "over the length cap", in: "ignorePaths: [" + strings.Repeat("a", MaxPatternBytes+1) + "]", wantErr: "ignorePaths[0]: pattern is 257 bytes, more than the 256 allowed"},
		{name: "at the ** cap", in: "paths: [\"" + strings.Repeat("**/", MaxDoubleStars) + "x\"]"},
		{name: "over the ** cap", in: "paths: [\"" + strings.Repeat("**/", MaxDoubleStars+1) + "x\"]", wantErr: `paths[0]: 33 "**" elements, more than the 32 allowed`},
		{name: "bad syntax names the list", in: `branches: ["ok", "re[lease"]`, wantErr: `branches[1]: bad pattern "re[lease"`},
		{name: "file too large", in: "# " + strings.Repeat("x", MaxFileBytes), wantErr: "more than the 65536 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzParse: any bytes either parse into a Config that validates and whose
// patterns can be matched, or give an error; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("branches: [main]\npaths: [\"src/**\", \"**/*.go\"]\nignorePaths: [docs/**]\n"))
	f.Add([]byte("app: web\nbuild: {language: go, port: 8080}\n"))
	f.Add([]byte("paths: [\"" + strings.Repeat("**/", 8) + "x\"]"))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte(monorepo))
	f.Add([]byte("apps: [{name: site, dir: ., image: a/b.c}, {name: x, dir: x/y, paths: [\"x/**\"]}]\nsharedPaths: [\"go.*\"]"))
	f.Add([]byte("steps:\n  - {name: lint, command: [go, vet, ./...]}\n  - name: up\n    when: after-tests\n    image: r/ci/up:1\n    script: ./up.sh\n    env: [{name: T, secretRef: {name: tok, key: t}}]\n"))
	f.Add([]byte("services:\n  - {name: db, image: r/base/postgres:15, ports: [5432], env: [{name: POSTGRES_PASSWORD, value: x}], readiness: {command: [pg_isready], timeoutSeconds: 30}}\n"))
	policy := StepPolicy{Images: []string{"r/base/*", "r/ci/**"}, Secrets: []SecretGrant{{Name: "tok", Repos: []string{"acme/*"}}}}
	f.Add([]byte("trusted: {users: [alice], groups: [acme/core, top/sub/team.x], keepApprovals: true}\n"))
	f.Add([]byte("trusted: {groups: [\"acme/../x\", \"a//b\", \"a/b?c\"]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		// A trusted group goes into an API URL path: nothing that could
		// step out of it or add a query gets through.
		for _, g := range c.Trusted.Groups {
			for _, seg := range strings.Split(g, "/") {
				if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "?#%@ \t\r\n\\") {
					t.Fatalf("accepted trusted group %q", g)
				}
			}
		}
		for _, set := range [][]string{c.Branches, c.Tags, c.Paths, c.IgnorePaths} {
			MatchAny(set, "a/b/c.go")
		}
		// Apps: every one has a name, a dir and an image, its triggers
		// match, and a merge request built on the file validates too.
		images := map[string]bool{}
		for _, a := range c.AppList() {
			if !validName(a.Name) || checkDir(a.Dir) != nil || checkImage(a.Image) != nil || len(a.Triggers) == 0 {
				t.Fatalf("accepted app %+v", a)
			}
			if images[a.Image] {
				t.Fatalf("two apps push to %s", a.Image)
			}
			images[a.Image] = true
			MatchAny(a.Triggers, "a/b/c.go")
		}
		_ = c.CheckAllowed("acme/web", policy)
		// The default branch's own steps are always a merge request's to run.
		mr, err := ForMergeRequest(c, c)
		if err != nil {
			t.Fatalf("ForMergeRequest(c, c): %v", err)
		}
		if err := mr.Validate(); err != nil {
			t.Fatalf("ForMergeRequest made an invalid config: %v", err)
		}
	})
}

// FuzzMatch compares Match with the backtracking reference on inputs small
// enough for the reference to finish.
func FuzzMatch(f *testing.F) {
	f.Add("**/*.md", "a/b/c.md")
	f.Add("src/**/test/*.go", "src/x/y/test/a.go")
	f.Add("a/**/b/**", "a/b")
	f.Add("**/**/x", "x")
	f.Add("[a-c]?/**", "b1/q")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		pat, segs := strings.Split(pattern, "/"), strings.Split(name, "/")
		if len(pat) > 10 || len(segs) > 12 || len(pattern) > 64 || len(name) > 64 {
			t.Skip()
		}
		if got, want := Match(pattern, name), matchRef(pat, segs); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", pattern, name, got, want)
		}
	})
}

// BenchmarkMatchAdversarial: eight "**" against a path that does not match,
// of growing length. The backtracking reference takes exponential time here
// (21.8 s at 41 elements in issue 13); Match grows linearly with the path.
func BenchmarkMatchAdversarial(b *testing.B) {
	pattern := strings.Repeat("**/a/", 8) + "b"
	for _, n := range []int{11, 21, 41, 81, 161} {
		name := strings.Repeat("a/", n-1) + "c"
		b.Run(fmt.Sprintf("segments=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if Match(pattern, name) {
					b.Fatal("matched")
				}
			}
		})
	}
}
