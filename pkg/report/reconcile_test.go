package report

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

func TestStatusRef(t *testing.T) {
	tests := []struct {
		name, ref, source, want string
	}{
		{"branch", "refs/heads/main", "", "main"},
		{"nested branch", "refs/heads/feature/login", "", "feature/login"},
		{"tag", "refs/tags/v1.2.0", "", "v1.2.0"},
		{"gitlab MR", "refs/merge-requests/5/head", "feature/login", "feature/login"},
		{"github PR", "refs/pull/9/head", "fix-typo", "fix-typo"},
		{"MR source ref", "refs/heads/feature/login", "feature/login", "feature/login"},
		{"MR without source branch", "refs/merge-requests/5/head", "", ""},
		{"PR without source branch", "refs/pull/9/head", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := newPR("x", "1", func(pr *pipelinev1.PipelineRun) {
				pr.Annotations[tekton.AnnotationRef] = tc.ref
				if tc.source != "" {
					pr.Annotations[tekton.AnnotationSourceBranch] = tc.source
				}
			})
			if diff := cmp.Diff(tc.want, statusRef(pr)); diff != "" {
				t.Errorf("statusRef (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunFromPipelineRun(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*pipelinev1.PipelineRun)
		want    *run.Run
		wantErr string
	}{{
		name: "push",
		mod:  func(*pipelinev1.PipelineRun) {},
		want: &run.Run{ID: "ci/web-1", EventID: 7, Provider: event.GitHub, Kind: event.Push, Repo: "acme/web",
			App: "web", Ref: "refs/heads/main", SHA: "abc", CreatedAt: t0},
	}, {
		name: "gitlab merge request",
		mod: func(pr *pipelinev1.PipelineRun) {
			pr.Labels[tekton.LabelProvider] = "gitlab"
			pr.Labels[tekton.LabelKind] = "merge_request"
			pr.Labels[tekton.LabelMR] = "12"
			pr.Annotations[tekton.AnnotationProjectID] = "42"
			pr.Annotations[tekton.AnnotationRef] = "refs/merge-requests/12/head"
		},
		want: &run.Run{ID: "ci/web-1", EventID: 7, Provider: event.GitLab, Kind: event.MergeRequest, Repo: "acme/web",
			ProjectID: 42, App: "web", Ref: "refs/merge-requests/12/head", SHA: "abc", MRNumber: 12, CreatedAt: t0},
	}, {
		name: "missing repo and sha",
		mod: func(pr *pipelinev1.PipelineRun) {
			delete(pr.Annotations, tekton.AnnotationRepo)
			delete(pr.Labels, tekton.LabelSHA)
		},
		wantErr: "missing slipway.dev/repo, slipway.dev/sha",
	}, {
		name:    "bad event id",
		mod:     func(pr *pipelinev1.PipelineRun) { pr.Labels[tekton.LabelEventID] = "seven" },
		wantErr: `slipway.dev/event-id="seven"`,
	}, {
		name:    "bad project id",
		mod:     func(pr *pipelinev1.PipelineRun) { pr.Annotations[tekton.AnnotationProjectID] = "4x" },
		wantErr: `slipway.dev/project-id="4x"`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runFromPipelineRun(newPR("web-1", "abc", tc.mod))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("run (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		name                       string
		backoff, retryAfter, wantD time.Duration
	}{
		{"no Retry-After", time.Second, 0, time.Second},
		{"Retry-After longer", time.Second, time.Minute, time.Minute},
		{"backoff longer", time.Minute, time.Second, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.wantD, retryDelay(tc.backoff, tc.retryAfter)); diff != "" {
				t.Errorf("retryDelay (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRankNeverGoesBack(t *testing.T) {
	tests := []struct {
		reported, state run.State
		post            bool
	}{
		{"", run.Pending, true},
		{"", run.Failed, true},
		{run.Pending, run.Pending, false},
		{run.Pending, run.Running, true},
		{run.Running, run.Pending, false},
		{run.Running, run.Succeeded, true},
		{run.Succeeded, run.Failed, false},
		{run.Canceled, run.Running, false},
	}
	for _, tc := range tests {
		if got := rank(tc.state) > rank(tc.reported); got != tc.post {
			t.Errorf("reported %q, now %q: post = %v, want %v", tc.reported, tc.state, got, tc.post)
		}
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("é", 200)
	got := truncate(long, maxDescription)
	if n := len([]rune(got)); n != maxDescription || !strings.HasSuffix(got, "…") {
		t.Errorf("truncate gave %d runes ending %q, want %d ending in …", n, got[len(got)-3:], maxDescription)
	}
	if diff := cmp.Diff("short", truncate(" short ", maxDescription)); diff != "" {
		t.Errorf("truncate (-want +got):\n%s", diff)
	}
}
