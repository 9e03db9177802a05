package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"
	versioned "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// RunGetter reads a run.
type RunGetter interface {
	GetRun(ctx context.Context, id string) (*run.Run, error)
}

// EventRecorder records the synthetic event of a re-run, copied from the
// event that started the run, so the re-run is durable and goes through
// the dispatcher like any push.
type EventRecorder interface {
	RecordEvent(ctx context.Context, ev *event.Event) (id int64, duplicate bool, err error)
	GetEvent(ctx context.Context, id int64) (*event.Event, error)
}

// RunActions re-runs and cancels runs. The API's routes and the web UI's
// buttons share it, so both act alike. Create it with NewRunActions.
type RunActions struct {
	runs      RunGetter
	events    EventRecorder
	tekton    versioned.Interface
	namespace string
	wake      func()
}

// NewRunActions acts on the runs of namespace (where the PipelineRuns
// run). events nil disables re-runs (501); wake, if set, is called after a
// re-run is recorded, to wake the dispatcher.
func NewRunActions(runs RunGetter, events EventRecorder, tc versioned.Interface, namespace string, wake func()) *RunActions {
	return &RunActions{runs: runs, events: events, tekton: tc, namespace: namespace, wake: wake}
}

// The errors of Rerun and Cancel; HTTPError maps them to status codes.
var (
	ErrNotFound       = errors.New("not found")
	ErrInvalid        = errors.New("invalid request")
	ErrConflict       = errors.New("conflict")
	ErrUnavailable    = errors.New("unavailable")
	ErrNotImplemented = errors.New("not configured")
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// Rerun records a copy of the event that started run id ("namespace/name")
// with a delivery id made from requestID (random when empty) and by (the
// person asking): the same request posted twice (double click, reload,
// client retry) queues one re-run, and the dispatcher builds it like any
// push (same repo, ref and SHA), naming its PipelineRun after the new
// delivery.
func (a *RunActions) Rerun(ctx context.Context, id, requestID, by string) (wire.RerunResult, error) {
	if a.events == nil {
		return wire.RerunResult{}, fmt.Errorf("%w: this store records no re-runs", ErrNotImplemented)
	}
	if requestID == "" {
		requestID = newRequestID()
	} else if !requestIDPattern.MatchString(requestID) {
		return wire.RerunResult{}, fmt.Errorf("%w: request id must be 8 to 64 letters, digits, - or _", ErrInvalid)
	}
	r, err := a.runs.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return wire.RerunResult{}, fmt.Errorf("%w: no run %s", ErrNotFound, id)
	}
	if err != nil {
		return wire.RerunResult{}, fmt.Errorf("%w: reading run: %w", ErrUnavailable, err)
	}
	orig, err := a.events.GetEvent(ctx, r.EventID)
	if errors.Is(err, store.ErrNotFound) {
		return wire.RerunResult{}, fmt.Errorf("%w: the event that started %s is no longer recorded", ErrConflict, id)
	}
	if err != nil {
		return wire.RerunResult{}, fmt.Errorf("%w: reading event: %w", ErrUnavailable, err)
	}
	ev := *orig
	ev.ID, ev.State, ev.Reason, ev.Attempts, ev.LastError, ev.ReceivedAt = 0, "", "", 0, "", time.Time{}
	ev.Action, ev.Commented = event.Build, false
	// A person asked for it: a [skip ci] in the commit message must not stop it.
	ev.CommitMessage = ""
	ev.Delivery = "ui-rerun-" + requestID
	if by != "" {
		ev.Delivery += "-by-" + sanitize(by)
	}
	eid, dup, err := a.events.RecordEvent(ctx, &ev)
	if err != nil {
		return wire.RerunResult{}, fmt.Errorf("%w: recording the re-run: %w", ErrUnavailable, err)
	}
	if a.wake != nil && !dup {
		a.wake()
	}
	return wire.RerunResult{EventID: eid, Duplicate: dup}, nil
}

// Cancel asks Tekton to cancel the PipelineRun ns/name, which must be one
// of Slipway's; Cancelled is false when it had already finished.
func (a *RunActions) Cancel(ctx context.Context, ns, name string) (wire.CancelResult, error) {
	if ns != a.namespace {
		return wire.CancelResult{}, fmt.Errorf("%w: no run %s/%s", ErrNotFound, ns, name)
	}
	pr, err := a.tekton.TektonV1().PipelineRuns(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || err == nil && pr.Labels[tekton.LabelManaged] != "true" {
		return wire.CancelResult{}, fmt.Errorf("%w: no PipelineRun %s/%s", ErrNotFound, ns, name)
	}
	if err != nil {
		return wire.CancelResult{}, fmt.Errorf("%w: reading PipelineRun: %w", ErrUnavailable, err)
	}
	sent, err := tekton.CancelRun(ctx, a.tekton, pr)
	if err != nil {
		return wire.CancelResult{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return wire.CancelResult{Cancelled: sent}, nil
}

// HTTPError maps the errors of RunActions to an *echo.HTTPError whose
// message is the reason.
func HTTPError(err error) *echo.HTTPError {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, ErrUnavailable):
		code = http.StatusServiceUnavailable
	case errors.Is(err, ErrNotImplemented):
		code = http.StatusNotImplemented
	}
	return &echo.HTTPError{Code: code, Message: err.Error(), Internal: err}
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func sanitize(s string) string {
	s = unsafeChars.ReplaceAllString(s, "_")
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

// RunActor is what the run routes need; *RunActions is one.
type RunActor interface {
	Rerun(ctx context.Context, id, requestID, by string) (wire.RerunResult, error)
	Cancel(ctx context.Context, ns, name string) (wire.CancelResult, error)
}

// RegisterRunActions adds POST /api/v1/runs/{ns}/{name}/rerun and
// /cancel to e, for developers and above (401 without a valid token, 403
// below developer). A re-run answers 202 with the event id, 200 with
// "duplicate": true for a repeated Idempotency-Key.
func RegisterRunActions(e *echo.Echo, a RunActor, access Access) {
	g, write := group(e), access.write(auth.Developer)
	g.POST("/runs/:namespace/:name/rerun", func(c echo.Context) error {
		id, err := runID(c)
		if err != nil {
			return err
		}
		res, err := a.Rerun(c.Request().Context(), id, c.Request().Header.Get("Idempotency-Key"), identity(c).Name)
		if err != nil {
			return HTTPError(err)
		}
		code := http.StatusAccepted
		if res.Duplicate {
			code = http.StatusOK
		}
		return c.JSON(code, res)
	}, write...)
	g.POST("/runs/:namespace/:name/cancel", func(c echo.Context) error {
		if _, err := runID(c); err != nil {
			return err
		}
		res, err := a.Cancel(c.Request().Context(), c.Param("namespace"), c.Param("name"))
		if err != nil {
			return HTTPError(err)
		}
		return c.JSON(http.StatusOK, res)
	}, write...)
}
