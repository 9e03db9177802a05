package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		method, url    string
		verb, resource string
	}{
		{"POST", "/apis/tekton.dev/v1/namespaces/ci/pipelineruns", "create", "pipelineruns.tekton.dev"},
		{"GET", "/apis/tekton.dev/v1/namespaces/ci/pipelineruns/run-1", "get", "pipelineruns.tekton.dev"},
		{"GET", "/apis/tekton.dev/v1/namespaces/ci/pipelineruns?labelSelector=a%3Db", "list", "pipelineruns.tekton.dev"},
		{"GET", "/apis/tekton.dev/v1/namespaces/ci/pipelineruns?watch=true&resourceVersion=5", "watch", "pipelineruns.tekton.dev"},
		{"PATCH", "/apis/tekton.dev/v1/namespaces/ci/pipelineruns/run-1", "patch", "pipelineruns.tekton.dev"},
		{"PUT", "/apis/tekton.dev/v1/namespaces/ci/pipelineruns/run-1/status", "update", "pipelineruns.tekton.dev/status"},
		{"DELETE", "/apis/tekton.dev/v1/namespaces/ci/pipelineruns/run-1", "delete", "pipelineruns.tekton.dev"},
		{"DELETE", "/apis/tekton.dev/v1/namespaces/ci/pipelineruns?labelSelector=a", "deletecollection", "pipelineruns.tekton.dev"},
		{"GET", "/api/v1/namespaces/ci/pods/p/log?follow=true", "get", "pods/log"},
		{"GET", "/api/v1/namespaces", "list", "namespaces"},
		{"GET", "/api/v1/namespaces/ci", "get", "namespaces"},
		{"PUT", "/api/v1/namespaces/ci/finalize", "update", "namespaces/finalize"},
		{"GET", "/api/v1/nodes/n1", "get", "nodes"},
		{"GET", "/api", "discovery", "/api"},
		{"GET", "/api/v1", "discovery", "/api"},
		{"GET", "/apis/tekton.dev/v1", "discovery", "/apis"},
		{"GET", "/version", "discovery", "/version"},
		{"GET", "/openapi/v3", "discovery", "/openapi"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.url, nil)
		verb, resource := Classify(req)
		if diff := cmp.Diff([]string{tt.verb, tt.resource}, []string{verb, resource}); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", tt.method, tt.url, diff)
		}
	}
}

// A client built from an instrumented config counts its requests, with
// the status code, and a second Instrument on the same registry fails
// rather than counting twice.
func TestInstrumentCountsClientRequests(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/missing") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
			return
		}
		_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"ci"}}`))
	}))
	defer api.Close()
	reg := prometheus.NewRegistry()
	rc := &rest.Config{Host: api.URL}
	if err := Instrument(rc, reg); err != nil {
		t.Fatal(err)
	}
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := kc.CoreV1().Namespaces().Get(ctx, "ci", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kc.CoreV1().Namespaces().Get(ctx, "missing", metav1.GetOptions{}); err == nil {
		t.Fatal("want a 404")
	}
	const want = `
# HELP slipway_kube_requests_total Requests to the Kubernetes API by verb, resource and status code (0: no answer).
# TYPE slipway_kube_requests_total counter
slipway_kube_requests_total{code="200",resource="namespaces",verb="get"} 2
slipway_kube_requests_total{code="404",resource="namespaces",verb="get"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "slipway_kube_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "slipway_kube_request_duration_seconds"); n != 1 {
		t.Errorf("duration series = %d, want 1", n)
	}
	if err := Instrument(&rest.Config{Host: api.URL}, reg); err == nil {
		t.Error("a second Instrument on one registry succeeded")
	}
}
