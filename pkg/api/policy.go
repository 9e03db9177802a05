package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// PolicyReader reads the dependency policy outcome stored per digest.
type PolicyReader interface {
	PolicyCheck(ctx context.Context, digest string) (*run.PolicyCheck, error)
}

// RegisterPolicy adds GET /api/v1/images/{digest}/policy, read like runs.
func RegisterPolicy(e *echo.Echo, r PolicyReader, a Access) {
	group(e).GET("/images/:digest/policy", func(c echo.Context) error {
		d := c.Param("digest")
		if !validDigest(d) {
			return echo.NewHTTPError(http.StatusBadRequest, "digest must be sha256: and 64 lower-case hex digits")
		}
		pc, err := r.PolicyCheck(c.Request().Context(), d)
		if errors.Is(err, store.ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "no policy check of "+d)
		}
		if err != nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "reading the policy check: "+err.Error())
		}
		return c.JSON(http.StatusOK, policyView(pc))
	}, a.open()...)
}

func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, ch := range hex {
		if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
			return false
		}
	}
	return true
}

func policyView(c *run.PolicyCheck) wire.PolicyCheck {
	w := wire.PolicyCheck{Digest: c.Digest, RunID: c.RunID, Outcome: string(c.Outcome), Packages: c.Packages,
		More: c.More, CheckedAt: c.CheckedAt, Violations: []wire.PolicyViolation{}}
	for _, v := range c.Violations {
		w.Violations = append(w.Violations, wire.PolicyViolation{Package: v.Package, Version: v.Version, Rule: v.Rule,
			ID: v.ID, Severity: v.Severity, Fixed: v.Fixed})
	}
	return w
}
