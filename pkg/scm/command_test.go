package scm

import (
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
	} {
		if got := CommentCommand(tc.body); got != tc.want {
			t.Errorf("CommentCommand(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}
