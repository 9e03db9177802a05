package deploy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Prometheus answers analysis queries through Prometheus' HTTP API with
// the official client.
type Prometheus struct {
	api promv1.API
}

var _ MetricsQuerier = (*Prometheus)(nil)

// NewPrometheus reaches the Prometheus at url (its base URL, e.g.
// http://prometheus.monitoring:9090) with c; nil c is the client
// library's default.
func NewPrometheus(url string, c *http.Client) (*Prometheus, error) {
	client, err := api.NewClient(api.Config{Address: url, Client: c})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", url, err)
	}
	return &Prometheus{api: promv1.NewAPI(client)}, nil
}

// ErrNoData is an empty result or NaN: nothing to judge by yet (a new
// canary with no traffic, a rate over no requests). The analysis counts it
// as inconclusive, not as a failure.
var ErrNoData = errors.New("no data")

// Query runs an instant query at the server's current time. The result
// must be a scalar or a vector of exactly one sample, so a threshold
// compares one number.
func (p *Prometheus) Query(ctx context.Context, query string) (float64, error) {
	val, _, err := p.api.Query(ctx, query, time.Time{})
	if err != nil {
		return 0, fmt.Errorf("prometheus query %q: %w", query, err)
	}
	var v model.SampleValue
	switch r := val.(type) {
	case *model.Scalar:
		v = r.Value
	case model.Vector:
		if len(r) == 0 {
			return 0, fmt.Errorf("prometheus query %q: %w", query, ErrNoData)
		}
		if len(r) != 1 {
			return 0, fmt.Errorf("prometheus query %q: %d series, want exactly 1", query, len(r))
		}
		v = r[0].Value
	default:
		return 0, fmt.Errorf("prometheus query %q: result type %q, want scalar or vector", query, val.Type())
	}
	// NaN fails every comparison, so it would pass any threshold.
	if math.IsNaN(float64(v)) {
		return 0, fmt.Errorf("prometheus query %q: NaN: %w", query, ErrNoData)
	}
	return float64(v), nil
}
