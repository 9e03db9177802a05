// Package kube holds what Slipway adds to its Kubernetes clients.
package kube

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
)

// Instrument counts and times every request made through clients built
// from rc, by verb and resource, in reg: slipway_kube_requests_total and
// slipway_kube_request_duration_seconds. An operator sees what Slipway
// costs the apiserver per event (one create, no discovery) without a proxy
// in front of it, and the dispatch bench reads the same counters.
func Instrument(rc *rest.Config, reg prometheus.Registerer) error {
	m := &requestMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_kube_requests_total",
			Help: "Requests to the Kubernetes API by verb, resource and status code (0: no answer).",
		}, []string{"verb", "resource", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "slipway_kube_request_duration_seconds",
			Help: "Time to the Kubernetes API's answer headers by verb and resource.",
			// The apiserver answers a create in a few milliseconds.
			Buckets: []float64{.001, .002, .004, .006, .008, .012, .016, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"verb", "resource"}),
	}
	for _, c := range []prometheus.Collector{m.total, m.duration} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	prev := rc.WrapTransport
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return &instrumented{next: rt, m: m}
	}
	return nil
}

type requestMetrics struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

type instrumented struct {
	next http.RoundTripper
	m    *requestMetrics
}

func (t *instrumented) RoundTrip(req *http.Request) (*http.Response, error) {
	verb, resource := Classify(req)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.m.duration.WithLabelValues(verb, resource).Observe(time.Since(start).Seconds())
	code := "0"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.m.total.WithLabelValues(verb, resource, code).Inc()
	return resp, err
}

// Classify names a request to the Kubernetes API as the apiserver's audit
// log would: a verb (get, list, watch, create, update, patch, delete,
// deletecollection) and a resource ("pipelineruns.tekton.dev", "pods",
// "pipelineruns.tekton.dev/status"); discovery and other non-resource
// paths are verb "discovery" with the path's first segment.
func Classify(req *http.Request) (verb, resource string) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	var group string
	switch {
	case len(parts) >= 3 && parts[0] == "api": // /api/v1/...
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis": // /apis/group/version/...
		group, parts = parts[1], parts[3:]
	default:
		return "discovery", "/" + parts[0]
	}
	// namespaces/NS/resource/..., but namespaces/NS/status and /finalize
	// are the namespace's own subresources, as the apiserver reads them.
	if len(parts) >= 3 && parts[0] == "namespaces" && parts[2] != "status" && parts[2] != "finalize" {
		parts = parts[2:]
	}
	resource = parts[0]
	if group != "" {
		resource += "." + group
	}
	named := len(parts) >= 2
	if len(parts) >= 3 {
		resource += "/" + parts[2]
	}
	switch req.Method {
	case http.MethodGet:
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			verb = "watch"
		case named:
			verb = "get"
		default:
			verb = "list"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
		if !named {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(req.Method)
	}
	return verb, resource
}
