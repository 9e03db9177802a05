package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/pkg/provenance"
	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
)

func TestProvenanceVerifyCmd(t *testing.T) {
	const (
		repo    = "https://git.example/team/app.git"
		commit  = "0123456789abcdef0123456789abcdef01234567"
		builder = "https://slipway.dev/builder/buildkit"
		other   = "89abcdef0123456789abcdef0123456789abcdef"
	)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	image := strings.TrimPrefix(srv.URL, "http://") + "/team/app:0123456"
	ref, err := name.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := provenancetest.Index(repo, commit, builder)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		wantErr    string
		wantOut    []string
		wantStderr []string
	}{{
		name:    "matches",
		args:    []string{"verify", image, "--insecure", "--repo", repo, "--commit", commit, "--builder", builder},
		wantOut: []string{"source:     " + repo, "revision:   " + commit, "builder:    " + builder, "dockerfile: Dockerfile (2 lines", "provenance OK"},
	}, {
		name:    "shows the recorded Dockerfile",
		args:    []string{"verify", image, "--insecure", "--repo", repo, "--commit", commit, "--show-dockerfile"},
		wantOut: []string{"--- Dockerfile ---\n" + provenancetest.Dockerfile + "---\n", "provenance OK"},
	}, {
		name:       "wrong commit and builder",
		args:       []string{"verify", image, "--insecure", "--repo", repo, "--commit", other, "--builder", "https://evil/b"},
		wantErr:    "provenance does not match",
		wantOut:    []string{"revision:   " + commit},
		wantStderr: []string{"MISMATCH commit: want " + other + ", got " + commit, "MISMATCH builder id: want https://evil/b, got " + builder},
	}, {
		name:    "commit is required",
		args:    []string{"verify", image, "--repo", repo},
		wantErr: `required flag(s) "commit" not set`,
	}, {
		name:    "bad image reference",
		args:    []string{"verify", "UPPER/Case:tag", "--repo", repo, "--commit", commit},
		wantErr: `image "UPPER/Case:tag"`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := NewProvenanceCmd()
			var out, errOut bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			cmd.SetArgs(tc.args)
			err := cmd.ExecuteContext(context.Background())
			if tc.wantErr == "" && err != nil {
				t.Fatalf("verify: %v\n%s", err, errOut.String())
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("verify error = %v, want it to contain %q", err, tc.wantErr)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout does not contain %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr does not contain %q:\n%s", w, errOut.String())
				}
			}
			if tc.name == "wrong commit and builder" {
				var me *provenance.MismatchError
				if !errors.As(err, &me) {
					t.Errorf("error %v is not a *provenance.MismatchError", err)
				}
			}
		})
	}
}
