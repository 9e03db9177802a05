package dispatch

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// skipMarkers in a commit message skip CI, as on the common hosted CIs.
var skipMarkers = []string{"[skip ci]", "[ci skip]"}

// filter returns why the repository's configuration does not build ev, or
// "" when it does; an error only when ctx ends while matching paths.
// changed are ev's changed files (changedPaths), nil when unknown.
func filter(ctx context.Context, ev *event.Event, rc *repoconfig.Config, changed []string) (string, error) {
	switch ev.Kind {
	case event.Push:
		if b := ev.Branch(); len(rc.Branches) > 0 && !repoconfig.MatchAny(rc.Branches, b) {
			return fmt.Sprintf("branch %s does not match branches %v", b, rc.Branches), nil
		}
	case event.Tag:
		if tag := ev.TagName(); len(rc.Tags) > 0 && !repoconfig.MatchAny(rc.Tags, tag) {
			return fmt.Sprintf("tag %s does not match tags %v", tag, rc.Tags), nil
		}
	}
	// Nil means the payload (or the host) did not say: build.
	if changed != nil {
		if len(rc.Paths) > 0 {
			ok, err := anyMatch(ctx, rc.Paths, changed)
			if err != nil {
				return "", err
			}
			if !ok {
				return fmt.Sprintf("no changed path matches paths %v", rc.Paths), nil
			}
		}
		if len(rc.IgnorePaths) > 0 {
			all, err := allMatch(ctx, rc.IgnorePaths, changed)
			if err != nil {
				return "", err
			}
			if all {
				return fmt.Sprintf("every changed path matches ignorePaths %v", rc.IgnorePaths), nil
			}
		}
	}
	msg := strings.ToLower(ev.CommitMessage)
	for _, m := range skipMarkers {
		if strings.Contains(msg, m) {
			return "commit message contains " + m, nil
		}
	}
	return "", nil
}

// anyMatch and allMatch check ctx between paths: a push can list
// thousands, and a worker must stop when its event's time is up.
func anyMatch(ctx context.Context, patterns, paths []string) (bool, error) {
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("matching changed paths: %w", err)
		}
		if repoconfig.MatchAny(patterns, p) {
			return true, nil
		}
	}
	return false, nil
}

func allMatch(ctx context.Context, patterns, paths []string) (bool, error) {
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("matching changed paths: %w", err)
		}
		if !repoconfig.MatchAny(patterns, p) {
			return false, nil
		}
	}
	return true, nil
}
