package webhook

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/scm/github"
)

// resign signs r's body with secret instead.
func (r request) resign(secret string) request {
	return r.with("X-Hub-Signature-256", github.Sign([]byte(secret), r.body))
}

func TestRepoSecretsAllowlistAndPinning(t *testing.T) {
	ghHost, err := scm.ParseGitHost("https://github.com", false)
	if err != nil {
		t.Fatal(err)
	}
	glHost, err := scm.ParseGitHost("http://example.com", true)
	if err != nil {
		t.Fatal(err)
	}
	pin := []Option{WithGitHost(event.GitHub, ghHost), WithGitHost(event.GitLab, glHost)}
	own := WithRepoSecrets(event.GitHub, map[string]string{"codertocat/hello-world": "own-secret", "other/repo": "other-secret"})
	glOwn := WithRepoSecrets(event.GitLab, map[string]string{"mike/diaspora": "diaspora-token"})
	forged := func(t *testing.T, from, to string) request {
		r := ghRequest(t, "push", "push.json")
		r.body = []byte(strings.ReplaceAll(string(r.body), from, to))
		return r.resign(ghSecret)
	}
	for _, tc := range []struct {
		name      string
		opts      []Option
		req       func(t *testing.T) request
		wantCode  int
		wantResp  Response
		wantStore []string // "<action> <clone URL> <reason>" of recorded events
	}{
		{name: "global secret, no lists", req: func(t *testing.T) request { return ghRequest(t, "push", "push.json") },
			wantCode: 202, wantResp: Response{ID: 1}, wantStore: []string{"build https://github.com/Codertocat/Hello-World.git "}},
		{name: "repo's own secret", opts: []Option{own}, req: func(t *testing.T) request { return ghRequest(t, "push", "push.json").resign("own-secret") },
			wantCode: 202, wantResp: Response{ID: 1}, wantStore: []string{"build https://github.com/Codertocat/Hello-World.git "}},
		{name: "global secret for a repo with its own", opts: []Option{own}, req: func(t *testing.T) request { return ghRequest(t, "push", "push.json") },
			wantCode: 401, wantResp: Response{Error: "the webhook secret is not this repository's", Reason: ReasonWrongRepoSecret}},
		{name: "another repo's secret", opts: []Option{own}, req: func(t *testing.T) request { return ghRequest(t, "push", "push.json").resign("other-secret") },
			wantCode: 401, wantResp: Response{Error: "the webhook secret is not this repository's", Reason: ReasonWrongRepoSecret}},
		{name: "no secret matches", opts: []Option{own}, req: func(t *testing.T) request { return ghRequest(t, "push", "push.json").resign("guess") },
			wantCode: 401, wantResp: Response{Error: "signature does not match the payload", Reason: ReasonBadSignature}},
		{name: "per-repo secrets only", opts: []Option{WithGitHubSecret(nil), own},
			req:      func(t *testing.T) request { return ghRequest(t, "push", "push.json").resign("own-secret") },
			wantCode: 202, wantResp: Response{ID: 1}, wantStore: []string{"build https://github.com/Codertocat/Hello-World.git "}},
		{name: "gitlab repo token", opts: append([]Option{glOwn}, pin...),
			req: func(t *testing.T) request {
				return glRequest(t, "Push Hook", "push.json").with("X-Gitlab-Token", "diaspora-token")
			},
			wantCode: 202, wantResp: Response{ID: 1}, wantStore: []string{"build http://example.com/mike/diaspora.git "}},
		{name: "gitlab global token for a repo with its own", opts: []Option{glOwn},
			req:      func(t *testing.T) request { return glRequest(t, "Push Hook", "push.json") },
			wantCode: 401, wantResp: Response{Error: "the webhook secret is not this repository's", Reason: ReasonWrongRepoSecret}},
		{name: "outside the allowlist", opts: []Option{WithAllowedRepos([]string{"acme/*", "mike/*"})},
			req:      func(t *testing.T) request { return ghRequest(t, "push", "push.json") },
			wantCode: 202, wantResp: Response{ID: 1, Ignored: "repository Codertocat/Hello-World is not in the allowed repositories"},
			wantStore: []string{"ignore https://github.com/Codertocat/Hello-World.git repository Codertocat/Hello-World is not in the allowed repositories"}},
		{name: "inside the allowlist", opts: []Option{WithAllowedRepos([]string{"acme/*", "Codertocat/*"})},
			req:      func(t *testing.T) request { return ghRequest(t, "push", "push.json") },
			wantCode: 202, wantResp: Response{ID: 1}, wantStore: []string{"build https://github.com/Codertocat/Hello-World.git "}},
		{name: "foreign clone host", opts: pin,
			req: func(t *testing.T) request {
				return forged(t, "https://github.com/Codertocat/Hello-World.git", "https://evil.example/x.git")
			},
			wantCode: 202, wantResp: Response{ID: 1, Ignored: "clone URL refused: clone URL https://evil.example is not the configured git host https://github.com"},
			wantStore: []string{"ignore https://evil.example/x.git clone URL refused: clone URL https://evil.example is not the configured git host https://github.com"}},
		{name: "file clone URL", opts: pin,
			req: func(t *testing.T) request {
				return forged(t, "https://github.com/Codertocat/Hello-World.git", "file:///etc")
			},
			wantCode: 202, wantResp: Response{ID: 1, Ignored: "clone URL refused: clone URL file:// is not the configured git host https://github.com"},
			wantStore: []string{"ignore file:///etc clone URL refused: clone URL file:// is not the configured git host https://github.com"}},
		{name: "same host, other path: pinned", opts: pin,
			req:      func(t *testing.T) request { return forged(t, "Codertocat/Hello-World.git", "evil/other.git") },
			wantCode: 202, wantResp: Response{ID: 1}, wantStore: []string{"build https://github.com/Codertocat/Hello-World.git "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			e, _ := newServer(t, rec, tc.opts...)
			code, resp := do(t, e, tc.req(t))
			if code != tc.wantCode {
				t.Errorf("status %d, want %d (%+v)", code, tc.wantCode, resp)
			}
			if diff := cmp.Diff(tc.wantResp, resp); diff != "" {
				t.Errorf("answer (-want +got)\n%s", diff)
			}
			var got []string
			for _, ev := range rec.events {
				got = append(got, string(ev.Action)+" "+ev.CloneURL+" "+ev.Reason)
			}
			if diff := cmp.Diff(tc.wantStore, got); diff != "" {
				t.Errorf("recorded (-want +got)\n%s", diff)
			}
		})
	}
}

func TestTrustOptionsRejected(t *testing.T) {
	for name, opt := range map[string]Option{
		"empty repo secret": WithRepoSecrets(event.GitHub, map[string]string{"o/r": ""}),
		"bad pattern":       WithAllowedRepos([]string{"o/["}),
		"empty pattern":     WithAllowedRepos([]string{""}),
	} {
		if _, err := New(&fakeRecorder{}, opt); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
