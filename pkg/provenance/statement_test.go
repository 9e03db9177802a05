package provenance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	fixtureRepo   = "http://git.slipway.local/team/hello.git"
	fixtureCommit = "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
	fixtureBase   = "pkg:docker/127.0.0.1%3A5000/base/busybox@latest?platform=linux%2Famd64"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// summary is what Slipway reads from a statement.
type summary struct {
	PredicateType string
	BuilderID     string
	Repo          string
	Revision      string
	ConfigSource  ConfigSource
	Materials     []string
	Subjects      int
}

func summarize(st *Statement) summary {
	repo, rev := st.Source()
	s := summary{
		PredicateType: st.PredicateType,
		BuilderID:     st.BuilderID(),
		Repo:          repo,
		Revision:      rev,
		ConfigSource:  st.ConfigSource(),
		Subjects:      len(st.SubjectDigests()),
	}
	for _, m := range st.Materials() {
		s.Materials = append(s.Materials, m.URI)
	}
	return s
}

// The fixtures are real BuildKit v0.33 output, written by the integration
// test (make integration-build TESTFLAGS=-update-testdata).
func TestParseBuildKitOutput(t *testing.T) {
	tests := []struct {
		file string
		want summary
	}{{
		file: "buildkit-provenance-v1.json",
		want: summary{
			PredicateType: PredicateSLSA1, BuilderID: "https://slipway.dev/builder/buildkit",
			Repo: fixtureRepo, Revision: fixtureCommit, ConfigSource: ConfigSource{Path: "Dockerfile"},
			Materials: []string{fixtureBase}, Subjects: 1,
		},
	}, {
		file: "buildkit-provenance-v0.2.json",
		want: summary{
			PredicateType: PredicateSLSA02, BuilderID: "https://slipway.dev/builder/buildkit",
			Repo: fixtureRepo, Revision: fixtureCommit, ConfigSource: ConfigSource{EntryPoint: "Dockerfile"},
			Materials: []string{fixtureBase}, Subjects: 1,
		},
	}}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			st, err := Parse(readFixture(t, tc.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, summarize(st)); diff != "" {
				t.Errorf("statement (-want +got):\n%s", diff)
			}
		})
	}
}

// When BuildKit fetched a git context itself, the config source names the
// repository and commit and wins over client-declared VCS metadata.
func TestSourcePrefersGitConfigSource(t *testing.T) {
	data := `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2",
	"subject":[{"name":"x","digest":{"sha256":"abc"}}],
	"predicate":{"builder":{"id":"b"},"invocation":{"configSource":{
		"uri":"https://github.com/org/app.git#refs/heads/main","digest":{"sha1":"1111111111111111111111111111111111111111"},"entryPoint":"Dockerfile"}},
	"metadata":{"https://mobyproject.org/buildkit@v1#metadata":{"vcs":{"source":"https://elsewhere/x","revision":"2222"}}}}}`
	st, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	repo, rev := st.Source()
	if diff := cmp.Diff([]string{"https://github.com/org/app.git", "1111111111111111111111111111111111111111"}, []string{repo, rev}); diff != "" {
		t.Errorf("source (-want +got):\n%s", diff)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"not json", `{"_type":`, "decoding in-toto statement"},
		{"no predicate", `{"predicateType":"https://slsa.dev/provenance/v1"}`, "has no predicate"},
		{"sbom", `{"predicateType":"https://spdx.dev/Document","predicate":{}}`, `unsupported predicate type "https://spdx.dev/Document"`},
		{"v1 predicate of the wrong shape", `{"predicateType":"https://slsa.dev/provenance/v1","predicate":{"runDetails":[]}}`, "decoding SLSA v1 predicate"},
		{"v0.2 predicate of the wrong shape", `{"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{"builder":"x"}}`, "decoding SLSA v0.2 predicate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// The Dockerfile travels in BuildKit's mode=max provenance: both predicate
// versions of a real build carry it, a statement without source infos
// has none.
func TestDockerfile(t *testing.T) {
	for _, file := range []string{"buildkit-provenance-v1.json", "buildkit-provenance-v0.2.json"} {
		t.Run(file, func(t *testing.T) {
			st, err := Parse(readFixture(t, file))
			if err != nil {
				t.Fatal(err)
			}
			name, content, ok := st.Dockerfile()
			if !ok || name != "Dockerfile" {
				t.Fatalf("Dockerfile() = %q, %v; want the Dockerfile", name, ok)
			}
			if !strings.HasPrefix(string(content), "FROM ") || !strings.Contains(string(content), "LABEL org.opencontainers.image.source") {
				t.Errorf("Dockerfile content:\n%s", content)
			}
		})
	}
	st, err := Parse([]byte(`{"predicateType":"` + PredicateSLSA1 + `","predicate":{"runDetails":{"metadata":{"buildkit_metadata":{}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := st.Dockerfile(); ok {
		t.Error("Dockerfile() found one in a statement without source infos")
	}
}
