package dispatch

import (
	"fmt"
	"strings"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// skipMarkers in a commit message skip CI, as on the common hosted CIs.
var skipMarkers = []string{"[skip ci]", "[ci skip]"}

// filter returns why the repository's configuration does not build ev, or
// "" when it does.
func filter(ev *event.Event, rc *repoconfig.Config) string {
	switch ev.Kind {
	case event.Push:
		if b := ev.Branch(); len(rc.Branches) > 0 && !repoconfig.MatchAny(rc.Branches, b) {
			return fmt.Sprintf("branch %s does not match branches %v", b, rc.Branches)
		}
	case event.Tag:
		if tag := ev.TagName(); len(rc.Tags) > 0 && !repoconfig.MatchAny(rc.Tags, tag) {
			return fmt.Sprintf("tag %s does not match tags %v", tag, rc.Tags)
		}
	}
	// Nil ChangedPaths means the payload did not say: build.
	if ev.ChangedPaths != nil {
		if len(rc.Paths) > 0 && !anyMatch(rc.Paths, ev.ChangedPaths) {
			return fmt.Sprintf("no changed path matches paths %v", rc.Paths)
		}
		if len(rc.IgnorePaths) > 0 && allMatch(rc.IgnorePaths, ev.ChangedPaths) {
			return fmt.Sprintf("every changed path matches ignorePaths %v", rc.IgnorePaths)
		}
	}
	msg := strings.ToLower(ev.CommitMessage)
	for _, m := range skipMarkers {
		if strings.Contains(msg, m) {
			return "commit message contains " + m
		}
	}
	return ""
}

func anyMatch(patterns, paths []string) bool {
	for _, p := range paths {
		if repoconfig.MatchAny(patterns, p) {
			return true
		}
	}
	return false
}

func allMatch(patterns, paths []string) bool {
	for _, p := range paths {
		if !repoconfig.MatchAny(patterns, p) {
			return false
		}
	}
	return true
}
