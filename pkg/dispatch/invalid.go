package dispatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/scm"
)

// invalidConfigError is a .slipway.yaml that cannot build: it does not
// parse or validate, or it asks for a step image or Secret the platform
// does not allow. Retrying would not change it; the commit needs another.
type invalidConfigError struct{ err error }

func (e *invalidConfigError) Error() string { return e.err.Error() }
func (e *invalidConfigError) Unwrap() error { return e.err }

func invalidConfig(err error) error {
	if err == nil {
		return nil
	}
	return &invalidConfigError{err}
}

// failConfig finishes ev as failed when err is an invalid .slipway.yaml,
// after posting a failure commit status that says why: the commit builds
// nothing, and its author should not have to find the event to learn
// that. Any other error is handed back as it is.
func (d *Dispatcher) failConfig(ctx context.Context, ev *event.Event, err error) (event.State, string, error) {
	var invalid *invalidConfigError
	if !errors.As(err, &invalid) {
		return "", "", err
	}
	reason := err.Error()
	ref := ev.Branch()
	if ev.Kind == event.MergeRequest {
		ref = ev.SourceBranch
	}
	// The host cuts the description to its limit; the event keeps it all.
	st := scm.Status{SHA: ev.SHA, State: scm.StateFailure, Context: d.statusContext, Description: reason, Ref: ref}
	client := d.scms[ev.Provider]
	if client == nil {
		return event.Failed, reason, nil
	}
	if perr := client.SetStatus(ctx, scm.Repo{FullName: ev.Repo, ProjectID: ev.ProjectID}, st); perr != nil {
		if again, _ := retry.IsTransient(perr); again {
			return "", "", fmt.Errorf("posting the failure status of %s on %s: %w", reason, ev.ShortSHA(), perr)
		}
		return event.Failed, reason + "; posting the failure status failed: " + perr.Error(), nil
	}
	return event.Failed, reason, nil
}
