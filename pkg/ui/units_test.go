package ui

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/provenance"
	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
)

func TestCommitLinks(t *testing.T) {
	tests := []struct {
		name           string
		github, gitlab string
		p              event.Provider
		repo           string
		commit, mr     string
	}{
		{"github.com", "", "", event.GitHub, "acme/web", "https://github.com/acme/web/commit/abc", "https://github.com/acme/web/pull/7"},
		{"api.github.com", "https://api.github.com/", "", event.GitHub, "acme/web", "https://github.com/acme/web/commit/abc", "https://github.com/acme/web/pull/7"},
		{"GitHub Enterprise", "https://ghe.example.com/api/v3/", "", event.GitHub, "acme/web", "https://ghe.example.com/acme/web/commit/abc", "https://ghe.example.com/acme/web/pull/7"},
		{"gitlab.com", "", "", event.GitLab, "g/sub/p", "https://gitlab.com/g/sub/p/-/commit/abc", "https://gitlab.com/g/sub/p/-/merge_requests/7"},
		{"self-hosted GitLab under a path", "", "http://10.244.0.1:8929/gitlab/api/v4", event.GitLab, "g/p", "http://10.244.0.1:8929/gitlab/g/p/-/commit/abc", "http://10.244.0.1:8929/gitlab/g/p/-/merge_requests/7"},
		{"unknown provider", "", "", "bitbucket", "a/b", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &UI{web: map[event.Provider]string{}}
			if err := WithSCMAPIURLs(tt.github, tt.gitlab)(u); err != nil {
				t.Fatal(err)
			}
			got := []string{u.commitURL(tt.p, tt.repo, "abc"), u.mrURL(tt.p, tt.repo, 7)}
			if diff := cmp.Diff([]string{tt.commit, tt.mr}, got); diff != "" {
				t.Errorf("links (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDockerfileFrom(t *testing.T) {
	tests := []struct {
		log, path, text string
		ok              bool
	}{
		{"x\n--- slipway:dockerfile .slipway/Dockerfile ---\nFROM a\nRUN b\n--- end slipway:dockerfile ---\ny\n", ".slipway/Dockerfile", "FROM a\nRUN b\n", true},
		{"--- slipway:dockerfile build/Dockerfile ---\nFROM a\n", "", "", false},
		{"generated .slipway/Dockerfile:\nFROM a\n", "", "", false},
	}
	for _, tt := range tests {
		p, text, ok := dockerfileFrom(tt.log)
		if p != tt.path || text != tt.text || ok != tt.ok {
			t.Errorf("dockerfileFrom(%q) = %q, %q, %v", tt.log, p, text, ok)
		}
	}
}

func TestLocalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/runs?repo=a", "/runs?repo=a"},
		{"/runs/ns/web-1#logs", "/runs/ns/web-1#logs"},
		{"/runs?repo=a%2Fb", "/runs?repo=a%2Fb"},
		{"", "/"},
		{"runs", "/"},
		{"//evil", "/"},
		{"//evil.example/x", "/"},
		{"/\\evil", "/"},
		{"/\\evil.example", "/"},
		{"https://evil", "/"},
		{"https://evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"JavaScript:alert(1)", "/"},
		{"/%09/evil.example", "/"},  // decoded by a client that decodes
		{"/\t/evil.example", "/"},   // what the query parameter decodes to
		{"/\n/evil.example", "/"},   // newline
		{"/\r\nSet-Cookie: x", "/"}, // header splitting
		{"/a\x00b", "/"},
		{"/a\x7fb", "/"},
		{"/a\u2028b", "/"},
		{"/%2F/evil.example", "/"},
		{"/%2f%2fevil", "/"},
		{"/%5Cevil", "/"},
		{"/%5cevil", "/"},
		{"/%0d%0aSet-Cookie:x", "/"},
		{"/\xff", "/"}, // not UTF-8
		{" /runs", "/"},
		{"\t//evil", "/"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, localPath(tt.in)); diff != "" {
			t.Errorf("localPath(%q) (-want +got)\n%s", tt.in, diff)
		}
	}
}

func TestDuration(t *testing.T) {
	now := t0.Add(time.Hour)
	for _, tt := range []struct {
		start, end time.Time
		want       string
	}{
		{time.Time{}, time.Time{}, ""},
		{t0, t0.Add(42 * time.Second), "42s"},
		{t0, t0.Add(83 * time.Second), "1m 23s"},
		{t0, time.Time{}, "1h 00m"},
	} {
		if got := duration(tt.start, tt.end, now); got != tt.want {
			t.Errorf("duration(%v, %v) = %q, want %q", tt.start, tt.end, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	for file, want := range map[string]Provenance{
		"buildkit-provenance-v1.json": {BuilderID: "https://slipway.dev/builder/buildkit", Materials: 1,
			Started: time.Date(2026, 11, 22, 3, 8, 32, 86005995, time.UTC), Finished: time.Date(2026, 11, 22, 3, 8, 34, 573065009, time.UTC)},
		"buildkit-provenance-v0.2.json": {BuilderID: "https://slipway.dev/builder/buildkit", Materials: 1,
			Started: time.Date(2026, 11, 22, 3, 8, 35, 71880594, time.UTC)},
	} {
		data, err := os.ReadFile("../provenance/testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		st, err := provenance.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		got := summarize(st)
		got.Repo, got.Commit = "", "" // read by provenance.Statement.Source, tested there
		// The real builds' Dockerfile, recorded by mode=max.
		if got.DockerfileName != "Dockerfile" || !strings.HasPrefix(got.Dockerfile, "FROM ") {
			t.Errorf("%s: Dockerfile %q: %q", file, got.DockerfileName, got.Dockerfile)
		}
		got.Dockerfile, got.DockerfileName = "", ""
		if !got.Finished.IsZero() && want.Finished.IsZero() {
			want.Finished = got.Finished
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", file, diff)
		}
	}
}

func TestProvenanceCache(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	idx, err := provenancetest.Index("https://git.example.com/acme/web.git", sha, "https://slipway.dev/builder/buildkit")
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host+"/apps/web:3f786850", name.Insecure)
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	dg, _ := idx.Digest()
	c := newProvenanceCache([]string{host})
	fetches := 0
	fetch := c.fetch
	c.fetch = func(ctx context.Context, r name.Reference) (*provenance.Statement, error) {
		fetches++
		return fetch(ctx, r)
	}
	for range 2 {
		got := c.get(context.Background(), host+"/apps/web:3f786850", dg.String())
		want := Provenance{BuilderID: "https://slipway.dev/builder/buildkit", Repo: "https://git.example.com/acme/web.git", Commit: sha,
			Dockerfile: provenancetest.Dockerfile, DockerfileName: "Dockerfile"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("provenance (-want +got):\n%s", diff)
		}
	}
	if fetches != 1 {
		t.Errorf("%d fetches, want 1 (cached by digest)", fetches)
	}
	if p := c.get(context.Background(), host+"/apps/web", "sha256:"+strings.Repeat("0", 64)); p.Err == "" {
		t.Error("unknown digest: want an error in the summary")
	}
}
