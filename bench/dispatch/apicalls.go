package dispatch

import (
	"context"
	"fmt"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// kubeCalls is what Slipway's own client counters said at one moment:
// requests by "verb resource" (slipway_kube_requests_total, pkg/kube) and
// the PipelineRun creates' summed time. Reading them needs no proxy in
// front of the apiserver, so Slipway's creates take the floor's path.
type kubeCalls struct {
	counts      map[string]int
	creates     int
	createTotal time.Duration
}

const createSeries = "create pipelineruns.tekton.dev"

// scrapeKubeCalls reads Slipway's /metrics at base.
func scrapeKubeCalls(ctx context.Context, client *http.Client, base string) (kubeCalls, error) {
	out := kubeCalls{counts: map[string]int{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return out, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return out, fmt.Errorf("reading Slipway's metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("reading Slipway's metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return out, fmt.Errorf("parsing Slipway's metrics: %w", err)
	}
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	if f := families["slipway_kube_requests_total"]; f != nil {
		for _, m := range f.GetMetric() {
			out.counts[label(m, "verb")+" "+label(m, "resource")] += int(m.GetCounter().GetValue())
		}
	}
	if f := families["slipway_kube_request_duration_seconds"]; f != nil {
		for _, m := range f.GetMetric() {
			if label(m, "verb")+" "+label(m, "resource") == createSeries {
				out.creates = int(m.GetHistogram().GetSampleCount())
				out.createTotal = time.Duration(m.GetHistogram().GetSampleSum() * float64(time.Second))
			}
		}
	}
	return out, nil
}

// since is the burst between k0 and k as Creates: their number and mean
// (the histogram's sum / count; its buckets are too coarse for a p50).
func (k kubeCalls) since(k0 kubeCalls) Creates {
	c := Creates{N: k.creates - k0.creates}
	if c.N > 0 {
		c.Mean = (k.createTotal - k0.createTotal) / time.Duration(c.N)
	}
	return c
}

// waitKubeCreates scrapes until Slipway has counted n creates in all, at
// most wait, and returns the last reading.
func waitKubeCreates(ctx context.Context, client *http.Client, base string, n int, wait time.Duration) (kubeCalls, error) {
	deadline := time.Now().Add(wait)
	for {
		k, err := scrapeKubeCalls(ctx, client, base)
		if err != nil || k.creates >= n || time.Now().After(deadline) || ctx.Err() != nil {
			return k, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
