package dispatch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"

	"github.com/slipway-ci/slipway/pkg/kube"
)

// The bench reads what an instrumented Slipway client counted: requests by
// verb and resource, and the creates' number and mean time.
func TestScrapeKubeCalls(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = w.Write([]byte(`{"kind":"PipelineRun","apiVersion":"tekton.dev/v1","metadata":{"name":"r","namespace":"ci"}}`))
	}))
	defer api.Close()
	reg := prometheus.NewRegistry()
	rc := &rest.Config{Host: api.URL}
	if err := kube.Instrument(rc, reg); err != nil {
		t.Fatal(err)
	}
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer metrics.Close()
	tc, err := versioned.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k0, err := scrapeKubeCalls(ctx, http.DefaultClient, metrics.URL)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		pr := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ci"}}
		if _, err := tc.TektonV1().PipelineRuns("ci").Create(ctx, pr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tc.TektonV1().PipelineRuns("ci").Get(ctx, "r", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	k1, err := scrapeKubeCalls(ctx, http.DefaultClient, metrics.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"create pipelineruns.tekton.dev=3", "get pipelineruns.tekton.dev=1"}
	if d := cmp.Diff(want, diff(k0.counts, k1.counts)); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
	c := k1.since(k0)
	if c.N != 3 || c.Mean <= 0 {
		t.Errorf("creates = %d, mean %s; want 3 and a positive mean", c.N, c.Mean)
	}
}
