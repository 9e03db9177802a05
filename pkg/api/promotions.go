package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/promotion"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/store"
)

// PromotionActions change promotions (*promotion.Service).
type PromotionActions interface {
	Promote(ctx context.Context, who promotion.Caller, req promotion.Request) (*release.Promotion, error)
	Rollback(ctx context.Context, who promotion.Caller, app, env string) (*release.Promotion, error)
	Approve(ctx context.Context, who promotion.Caller, id int64) (*release.Promotion, error)
	Abort(ctx context.Context, who promotion.Caller, id int64) (*release.Promotion, error)
	Continue(ctx context.Context, who promotion.Caller, id int64) (*release.Promotion, error)
}

// PromotionReader reads promotions and the audit log.
type PromotionReader interface {
	Get(ctx context.Context, id int64) (*release.Promotion, error)
	List(ctx context.Context, f store.PromotionFilter) ([]release.Promotion, error)
	Audit(ctx context.Context, f store.AuditFilter) ([]release.AuditEntry, error)
}

// AppAdmin retires apps (*promotion.Service).
type AppAdmin interface {
	// RetireApp deletes app everywhere (dryRun: lists what would go); the
	// error is the request's, a cluster's failure is in the answer.
	RetireApp(ctx context.Context, who promotion.Caller, app string, dryRun bool) (*release.Retirement, error)
	// RemovedApps lists apps with deployments the config no longer lists.
	RemovedApps(ctx context.Context) ([]release.RemovedApp, error)
	// Orphans lists labelled objects no configured app claims.
	Orphans(ctx context.Context, who promotion.Caller) (*release.OrphanReport, error)
}

// RegisterPromotions adds the promotion, rollback, app and audit routes;
// *promotion.Service is act, read and admin. Every write needs a token
// (401 without one, also when no tokens are configured); the service
// decides the role each needs (403 with the reason). Reads need a
// developer token once tokens are configured: the audit log says who did
// what. A request refused for want of a valid token reaches nothing that
// writes (it is counted, see Denials); one of an authenticated caller may
// be audited, so its fields are capped (400) before the service is asked.
func RegisterPromotions(e *echo.Echo, act PromotionActions, read PromotionReader, admin AppAdmin, a Access) {
	h := &promotions{actions: act, read: read, admin: admin}
	reads := a.read()
	writes := a.write("")
	g := group(e)
	g.GET("/promotions", h.list, reads...)
	g.GET("/promotions/:id", h.get, reads...)
	g.GET("/audit", h.audit, reads...)
	g.GET("/apps/retired", h.removedApps, reads...)
	g.GET("/orphans", h.orphans, reads...)
	g.POST("/promotions", h.promote, writes...)
	g.POST("/promotions/:id/approve", h.act("approve", act.Approve), writes...)
	g.POST("/promotions/:id/abort", h.act("abort", act.Abort), writes...)
	g.POST("/promotions/:id/continue", h.act("continue", act.Continue), writes...)
	g.POST("/apps/:app/rollback", h.rollback, writes...)
	g.DELETE("/apps/:app", h.deleteApp, writes...)
}

type promotions struct {
	actions PromotionActions
	read    PromotionReader
	admin   AppAdmin
}

// MaxFieldBytes caps every request field that may be stored (app and
// environment names, digests): a name of a Kubernetes object is at most
// 253 bytes, so nothing real is longer.
const MaxFieldBytes = 253

// capped is a 400 naming the first field longer than MaxFieldBytes.
func capped(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if len(fields[i+1]) > MaxFieldBytes {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("%s is longer than %d bytes", fields[i], MaxFieldBytes))
		}
	}
	return nil
}

func (h *promotions) promote(c echo.Context) error {
	var req wire.PromoteRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.App == "" || req.To == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "app and to are required")
	}
	if err := capped("app", req.App, "to", req.To, "from", req.From, "digest", req.Digest); err != nil {
		return err
	}
	p, err := h.actions.Promote(c.Request().Context(), identity(c), promotion.Request{App: req.App, From: req.From, To: req.To, Digest: req.Digest, PolicyOverride: req.PolicyOverride})
	return created(c, p, err)
}

func (h *promotions) rollback(c echo.Context) error {
	var req wire.RollbackRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Env == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "env is required")
	}
	if err := capped("app", c.Param("app"), "env", req.Env); err != nil {
		return err
	}
	p, err := h.actions.Rollback(c.Request().Context(), identity(c), c.Param("app"), req.Env)
	return created(c, p, err)
}

// created answers 201 with the new promotion, or 422 with it when the
// gate refused it (the reason is in the promotion).
func created(c echo.Context, p *release.Promotion, err error) error {
	if err != nil {
		return httpError(err)
	}
	if p.State == release.PromotionRefused {
		return c.JSON(http.StatusUnprocessableEntity, promotionView(p))
	}
	return c.JSON(http.StatusCreated, promotionView(p))
}

func (h *promotions) act(what string, f func(context.Context, promotion.Caller, int64) (*release.Promotion, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := idParam(c)
		if err != nil {
			return err
		}
		p, err := f(c.Request().Context(), identity(c), id)
		if err != nil {
			return httpError(fmt.Errorf("%s: %w", what, err))
		}
		return c.JSON(http.StatusOK, promotionView(p))
	}
}

// deleteApp answers with what each cluster's run deleted (or, with
// ?dryRun=true, would): 200 when every run succeeded, 502 with the same
// body when one failed. It waits for the runs (minutes at most: each is
// bounded), so the answer is the deploy pods' own report and no
// retirement state has to be kept between requests or replicas.
func (h *promotions) deleteApp(c echo.Context) error {
	if err := capped("app", c.Param("app")); err != nil {
		return err
	}
	dryRun := false
	if v := c.QueryParam("dryRun"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("dryRun %q: want true or false", v))
		}
		dryRun = b
	}
	r, err := h.admin.RetireApp(c.Request().Context(), identity(c), c.Param("app"), dryRun)
	if err != nil {
		return httpError(err)
	}
	code := http.StatusOK
	if r.Failed() {
		code = http.StatusBadGateway
	}
	return c.JSON(code, retirementView(r))
}

// orphans answers like deleteApp: it waits for the orphans runs (the
// server may not read the apps' namespaces itself); 502 when one failed.
func (h *promotions) orphans(c echo.Context) error {
	r, err := h.admin.Orphans(c.Request().Context(), identity(c))
	if err != nil {
		return httpError(err)
	}
	out := wire.OrphanReport{Clusters: clustersView(r.Clusters)}
	code := http.StatusOK
	for _, cl := range r.Clusters {
		if cl.Error != "" {
			code = http.StatusBadGateway
		}
	}
	return c.JSON(code, out)
}

func retirementView(r *release.Retirement) wire.Retirement {
	return wire.Retirement{App: r.App, DryRun: r.DryRun, Clusters: clustersView(r.Clusters)}
}

func clustersView(cs []release.RetiredCluster) []wire.RetiredCluster {
	out := []wire.RetiredCluster{}
	for _, c := range cs {
		objs := c.Objects
		if objs == nil {
			objs = []string{}
		}
		out = append(out, wire.RetiredCluster{Env: c.Env, Cluster: c.Cluster, Namespace: c.Namespace, Objects: objs, Error: c.Error})
	}
	return out
}

func (h *promotions) removedApps(c echo.Context) error {
	apps, err := h.admin.RemovedApps(c.Request().Context())
	if err != nil {
		return httpError(err)
	}
	out := wire.List[wire.RemovedApp]{Items: []wire.RemovedApp{}}
	for _, a := range apps {
		out.Items = append(out.Items, wire.RemovedApp{App: a.App, Environments: a.Envs, State: string(a.State), Error: a.Error})
	}
	return c.JSON(http.StatusOK, out)
}

func (h *promotions) get(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	p, err := h.read.Get(c.Request().Context(), id)
	if err != nil {
		return httpError(err)
	}
	return c.JSON(http.StatusOK, promotionView(p))
}

func (h *promotions) list(c echo.Context) error {
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	f := store.PromotionFilter{Limit: limit, App: c.QueryParam("app"), To: c.QueryParam("to"), State: release.PromotionState(c.QueryParam("state"))}
	switch f.State {
	case "", release.PromotionAwaitingApproval, release.PromotionQueued, release.PromotionRunning, release.PromotionPaused, release.PromotionSucceeded,
		release.PromotionFailed, release.PromotionRefused, release.PromotionAborted:
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "state must be awaiting-approval, queued, running, paused, succeeded, failed, refused or aborted")
	}
	ps, err := h.read.List(c.Request().Context(), f)
	if err != nil {
		return httpError(err)
	}
	return c.JSON(http.StatusOK, listOf(ps, promotionView))
}

func (h *promotions) audit(c echo.Context) error {
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	f := store.AuditFilter{Limit: limit, App: c.QueryParam("app"), Actor: c.QueryParam("actor")}
	if s := c.QueryParam("promotion"); s != "" {
		if f.PromotionID, err = strconv.ParseInt(s, 10, 64); err != nil || f.PromotionID < 1 {
			return echo.NewHTTPError(http.StatusBadRequest, "promotion must be a positive number")
		}
	}
	es, err := h.read.Audit(c.Request().Context(), f)
	if err != nil {
		return httpError(err)
	}
	return c.JSON(http.StatusOK, listOf(es, auditView))
}

// identity is the authenticated caller as the promotion service takes
// it: authorisation by role is the API's to say.
func identity(c echo.Context) promotion.Caller {
	id, _ := auth.FromContext(c.Request().Context())
	return promotion.Caller{Name: id.Name, Role: string(id.Role),
		ReleaseManager: id.Role.Allows(auth.ReleaseManager), Admin: id.Role.Allows(auth.Admin)}
}

func idParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, echo.NewHTTPError(http.StatusBadRequest, "promotion id must be a positive number")
	}
	return id, nil
}

// decode reads a JSON body strictly: unknown fields are a 400, so a typo
// ("digset") is not silently ignored.
func decode(c echo.Context, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "bad request body: "+err.Error())
	}
	return nil
}

// httpError maps the service's errors to status codes; the message is the
// reason.
func httpError(err error) error {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, promotion.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, promotion.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, promotion.ErrForbidden):
		code = http.StatusForbidden
	case errors.Is(err, promotion.ErrConflict):
		code = http.StatusConflict
	}
	return &echo.HTTPError{Code: code, Message: err.Error(), Internal: err}
}
