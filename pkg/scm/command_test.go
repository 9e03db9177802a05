package scm

import (
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pkg/event"
)

func TestCommentCommand(t *testing.T) {
	for _, tc := range []struct {
		body string
		want event.Action
	}{
		{"/retest", event.Retest},
		{"  /retest please\n", event.Retest},
		{"LGTM\n\n/cancel", event.Cancel},
		{"/cancel\n/retest", event.Cancel},
		{"please /retest", ""},
		{"> /retest", ""},
		{"/retesting", ""},
		{"", ""},
		{"/ok-to-test", event.OkToTest},
		{"thanks!\n/ok-to-test\n", event.OkToTest},
		{"/ok-to-test-please", ""},
		{"`/ok-to-test`", ""},
	} {
		if got := CommentCommand(tc.body); got != tc.want {
			t.Errorf("CommentCommand(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// FuzzCommentCommand: any comment body gives one of the known commands or
// none, and a command is always a whole first field of some line.
func FuzzCommentCommand(f *testing.F) {
	for _, s := range []string{"/retest", "/cancel", "/ok-to-test", "LGTM\n/ok-to-test now", "\x00/retest", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		switch got := CommentCommand(body); got {
		case "":
		case event.Retest, event.Cancel, event.OkToTest:
			if !strings.Contains(body, "/") {
				t.Errorf("CommentCommand(%q) = %q without a slash", body, got)
			}
		default:
			t.Errorf("CommentCommand(%q) = unknown %q", body, got)
		}
	})
}
