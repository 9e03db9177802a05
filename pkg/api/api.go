// Package api serves Slipway's REST API: every /api/v1 route, reads and
// writes (events, runs and their re-run and cancel, promotions, the audit
// log, notifications), behind one authentication policy over bearer tokens
// (pkg/auth). It answers its own wire types (pkg/api/wire), never store
// rows; pkg/api/client is the Go client of it.
package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// Reader is the part of the store the API reads.
type Reader interface {
	ListEvents(ctx context.Context, f store.EventFilter) ([]event.Event, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]run.Run, error)
	GetRun(ctx context.Context, id string) (*run.Run, error)
}

const (
	defaultLimit = 50
	maxLimit     = 1000
)

// Register adds GET /api/v1/events, /api/v1/runs and /api/v1/runs/{ns}/{name}
// to e. With tokens configured they need a token or a session unless
// a.PublicRead; a token sent must be valid.
func Register(e *echo.Echo, r Reader, a Access) {
	h := &handler{r: r}
	g, open := group(e), a.open()
	g.GET("/events", h.listEvents, open...)
	g.GET("/runs", h.listRuns, open...)
	g.GET("/runs/:namespace/:name", h.getRun, open...)
}

type handler struct{ r Reader }

func (h *handler) listEvents(c echo.Context) error {
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	state := event.State(c.QueryParam("state"))
	if state != "" && !state.Valid() {
		return echo.NewHTTPError(http.StatusBadRequest, "state must be queued, dispatched, waiting, ignored or failed")
	}
	evs, err := h.r.ListEvents(c.Request().Context(), store.EventFilter{Limit: limit, Repo: c.QueryParam("repo"), State: state})
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "listing events: "+err.Error())
	}
	return c.JSON(http.StatusOK, listOf(evs, eventView))
}

func (h *handler) listRuns(c echo.Context) error {
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	f := store.RunFilter{Limit: limit, Repo: c.QueryParam("repo"), Ref: c.QueryParam("ref"), State: run.State(c.QueryParam("state"))}
	switch f.State {
	case "", run.Pending, run.Running, run.Succeeded, run.Failed, run.Canceled:
	default:
		// An unknown state would match nothing: say so instead of an empty list.
		return echo.NewHTTPError(http.StatusBadRequest, "state must be pending, running, success, failure or canceled")
	}
	if mr := c.QueryParam("mr"); mr != "" {
		n, err := strconv.Atoi(mr)
		if err != nil || n < 1 {
			return echo.NewHTTPError(http.StatusBadRequest, "mr must be a positive number")
		}
		f.MRNumber = n
	}
	runs, err := h.r.ListRuns(c.Request().Context(), f)
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "listing runs: "+err.Error())
	}
	return c.JSON(http.StatusOK, listOf(runs, runView))
}

func (h *handler) getRun(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	r, err := h.r.GetRun(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no run "+id)
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "reading run: "+err.Error())
	}
	return c.JSON(http.StatusOK, runView(r))
}

// runID is "namespace/name" from the path, both checked as Kubernetes
// names so a malformed one is a 400, not a lookup.
func runID(c echo.Context) (string, error) {
	ns, name := c.Param("namespace"), c.Param("name")
	if !validName(ns, 63) || !validName(name, 253) {
		return "", echo.NewHTTPError(http.StatusBadRequest, "a run is namespace/name, lower-case letters, digits, '-' and '.'")
	}
	return ns + "/" + name, nil
}

// validName is a loose DNS-1123 check: what a namespace or PipelineRun
// name may hold.
func validName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9':
		case (ch == '-' || ch == '.') && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

func limitParam(c echo.Context) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, echo.NewHTTPError(http.StatusBadRequest, "limit must be between 1 and 1000")
	}
	return n, nil
}
