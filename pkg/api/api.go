// Package api serves Slipway's read-only REST API over the store.
package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/store"
)

// Reader is the part of the store the API reads.
type Reader interface {
	ListEvents(ctx context.Context, f store.EventFilter) ([]event.Event, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	GetRun(ctx context.Context, id string) (*store.Run, error)
}

const (
	defaultLimit = 50
	maxLimit     = 1000
)

// Register adds the /api/v1 routes to e.
func Register(e *echo.Echo, r Reader) {
	h := &handler{r: r}
	g := e.Group("/api/v1")
	g.GET("/events", h.listEvents)
	g.GET("/runs", h.listRuns)
	g.GET("/runs/:namespace/:name", h.getRun)
}

type handler struct{ r Reader }

// EventView is one event as the API shows it.
type EventView struct {
	ID         int64          `json:"id"`
	Provider   event.Provider `json:"provider"`
	Kind       event.Kind     `json:"kind"`
	Repo       string         `json:"repo"`
	Ref        string         `json:"ref"`
	SHA        string         `json:"sha"`
	Delivery   string         `json:"delivery"`
	State      event.State    `json:"state"`
	Reason     string         `json:"reason"`
	Attempts   int            `json:"attempts"`
	LastError  string         `json:"lastError,omitempty"`
	MRNumber   int            `json:"mrNumber,omitempty"`
	ReceivedAt time.Time      `json:"receivedAt"`
}

type list[T any] struct {
	Items []T `json:"items"`
}

func (h *handler) listEvents(c echo.Context) error {
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	state := event.State(c.QueryParam("state"))
	switch state {
	case "", event.Queued, event.Dispatched, event.Ignored, event.Failed:
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "state must be queued, dispatched, ignored or failed")
	}
	evs, err := h.r.ListEvents(c.Request().Context(), store.EventFilter{Limit: limit, Repo: c.QueryParam("repo"), State: state})
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "listing events: "+err.Error())
	}
	out := list[EventView]{Items: make([]EventView, 0, len(evs))}
	for _, e := range evs {
		out.Items = append(out.Items, EventView{
			ID: e.ID, Provider: e.Provider, Kind: e.Kind, Repo: e.Repo, Ref: e.Ref, SHA: e.SHA,
			Delivery: e.Delivery, State: e.State, Reason: e.Reason, Attempts: e.Attempts,
			LastError: e.LastError, MRNumber: e.MRNumber, ReceivedAt: e.ReceivedAt,
		})
	}
	return c.JSON(http.StatusOK, out)
}

func (h *handler) listRuns(c echo.Context) error {
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	f := store.RunFilter{Limit: limit, Repo: c.QueryParam("repo"), Ref: c.QueryParam("ref"), State: store.RunState(c.QueryParam("state"))}
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
	if runs == nil {
		runs = []store.Run{}
	}
	return c.JSON(http.StatusOK, list[store.Run]{Items: runs})
}

func (h *handler) getRun(c echo.Context) error {
	id := c.Param("namespace") + "/" + c.Param("name")
	r, err := h.r.GetRun(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no run "+id)
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "reading run: "+err.Error())
	}
	return c.JSON(http.StatusOK, r)
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
