package notify

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
)

func TestComment(t *testing.T) {
	s := failedSummary()
	s.Run.ImageURL, s.Run.ImageDigest = "registry.local/team/web", "sha256:abc"
	s.LogTail = append(s.LogTail, "```not a fence")
	want := "### ❌ Slipway CI failed\n\n" +
		"| | |\n|---|---|\n" +
		"| Commit | `1a2b3c4d` |\n" +
		"| Duration | 1m35s |\n" +
		"| Failed task | `unit-test` (step `go-test`) |\n" +
		"| Image | `registry.local/team/web@sha256:abc` |\n" +
		"| Run | [ci/web-1a2b3c4d-abcd](https://ci.example.com/runs/ci/web-1a2b3c4d-abcd) |\n" +
		"\nTasks Completed: 2 (Failed: 1)\n" +
		"\n<details><summary>Last 4 lines of the log</summary>\n\n```\n" +
		"=== RUN TestCart\n--- FAIL: TestCart (0.00s)\nFAIL\n`\u200b``not a fence\n" +
		"```\n</details>\n" +
		"\nComment `/retest` to run it again or `/cancel` to stop it.\n"
	if diff := cmp.Diff(want, Comment(s)); diff != "" {
		t.Errorf("Comment (-want +got):\n%s", diff)
	}
}

func TestSubject(t *testing.T) {
	summary := func(p event.Provider, k event.Kind, ref string, mr int, st run.State) Summary {
		return Summary{Run: run.Run{Provider: p, Kind: k, Repo: "g/web", Ref: ref, MRNumber: mr, SHA: "0123456789", State: st}}
	}
	for _, tc := range []struct {
		s    Summary
		want string
	}{
		{summary(event.GitLab, event.MergeRequest, "refs/merge-requests/3/head", 3, run.Failed), "[slipway] g/web !3 failed (01234567)"},
		{summary(event.GitHub, event.Push, "refs/heads/main", 0, run.Succeeded), "[slipway] g/web main succeeded (01234567)"},
		{summary(event.GitHub, event.Tag, "refs/tags/v1.2.0", 0, run.Canceled), "[slipway] g/web v1.2.0 was cancelled (01234567)"},
	} {
		if got := Subject(tc.s); got != tc.want {
			t.Errorf("Subject = %q, want %q", got, tc.want)
		}
	}
}

func TestLastRunes(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789", 5, "…6789"},
		{"ééééé", 3, "…éé"},
	} {
		if got := lastRunes(tc.s, tc.n); got != tc.want {
			t.Errorf("lastRunes(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
