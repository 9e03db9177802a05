package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/store"
)

// NotificationReader lists recorded notifications; the SQL stores have it.
type NotificationReader interface {
	ListNotifications(ctx context.Context, f store.NotificationFilter) ([]store.Notification, error)
}

// RegisterNotifications adds GET /api/v1/notifications?state=&run=&limit=
// to e: email, chat and MR comment deliveries with their outcome, so a
// failed one can be seen. Readable as runs are (see Access).
func RegisterNotifications(e *echo.Echo, r NotificationReader, a Access) {
	group(e).GET("/notifications", func(c echo.Context) error {
		limit, err := limitParam(c)
		if err != nil {
			return err
		}
		f := store.NotificationFilter{Limit: limit, RunID: c.QueryParam("run"), State: store.NotificationState(c.QueryParam("state"))}
		switch f.State {
		case "", store.NotificationPending, store.NotificationSent, store.NotificationFailed:
		default:
			return echo.NewHTTPError(http.StatusBadRequest, "state must be pending, sent or failed")
		}
		ns, err := r.ListNotifications(c.Request().Context(), f)
		if err != nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "listing notifications: "+err.Error())
		}
		return c.JSON(http.StatusOK, listOf(ns, notificationView))
	}, a.open()...)
}
