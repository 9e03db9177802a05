package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Prometheus answers analysis queries through Prometheus' HTTP API
// (GET /api/v1/query).
type Prometheus struct {
	// URL is the server's base URL, e.g. http://prometheus.monitoring:9090.
	URL    string
	Client *http.Client
}

var _ MetricsQuerier = (*Prometheus)(nil)

type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// Query runs an instant query. The result must be a scalar or a vector of
// exactly one sample, so a threshold compares one number.
func (p *Prometheus) Query(ctx context.Context, query string) (float64, error) {
	u := strings.TrimSuffix(p.URL, "/") + "/api/v1/query?" + url.Values{"query": {query}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("prometheus query: %w", err)
	}
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("prometheus query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, fmt.Errorf("prometheus query: reading answer: %w", err)
	}
	var pr promResponse
	if err := json.Unmarshal(body, &pr); err != nil {
		return 0, fmt.Errorf("prometheus query: status %s, undecodable answer: %w", resp.Status, err)
	}
	if pr.Status != "success" {
		return 0, fmt.Errorf("prometheus query %q: %s: %s", query, pr.ErrorType, pr.Error)
	}
	var sample []any
	switch pr.Data.ResultType {
	case "scalar":
		if err := json.Unmarshal(pr.Data.Result, &sample); err != nil {
			return 0, fmt.Errorf("prometheus query %q: scalar: %w", query, err)
		}
	case "vector":
		var vec []struct {
			Value []any `json:"value"`
		}
		if err := json.Unmarshal(pr.Data.Result, &vec); err != nil {
			return 0, fmt.Errorf("prometheus query %q: vector: %w", query, err)
		}
		if len(vec) != 1 {
			return 0, fmt.Errorf("prometheus query %q: %d series, want exactly 1", query, len(vec))
		}
		sample = vec[0].Value
	default:
		return 0, fmt.Errorf("prometheus query %q: result type %q, want scalar or vector", query, pr.Data.ResultType)
	}
	if len(sample) != 2 {
		return 0, fmt.Errorf("prometheus query %q: malformed sample %v", query, sample)
	}
	s, ok := sample[1].(string)
	if !ok {
		return 0, fmt.Errorf("prometheus query %q: sample value %v is not a string", query, sample[1])
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("prometheus query %q: %w", query, err)
	}
	// NaN fails every comparison, so it would pass any threshold.
	if math.IsNaN(v) {
		return 0, fmt.Errorf("prometheus query %q: value is NaN (no data?)", query)
	}
	return v, nil
}
