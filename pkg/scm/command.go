package scm

import (
	"strings"

	"github.com/slipway-ci/slipway/pkg/event"
)

// CommentCommand returns the Slipway command in an MR comment: event.Retest
// for a line "/retest", event.Cancel for "/cancel", event.OkToTest for
// "/ok-to-test", "" for anything else.
// Only whole lines count (trailing words are allowed, as in "/retest
// please"), so a quoted or inline mention does not trigger a run. The
// first command line wins.
func CommentCommand(body string) event.Action {
	for line := range strings.Lines(body) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "/retest":
			return event.Retest
		case "/cancel":
			return event.Cancel
		case "/ok-to-test":
			return event.OkToTest
		}
	}
	return ""
}
