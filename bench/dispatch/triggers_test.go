package dispatch

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// TestTriggerTemplateMakesTheFloorsRun fills the TriggerTemplate the way
// Triggers does (each $(tt.params.x) replaced in the template's JSON by
// the binding's value for the push) and compares the run with the floor's
// for the same push.
func TestTriggerTemplateMakesTheFloorsRun(t *testing.T) {
	ds, fx, err := pushDeliveries(2, []byte(secret), "template-test")
	if err != nil {
		t.Fatal(err)
	}
	opts := benchRunOptions("bench-ns")
	sample, err := tekton.NewCIRun(floorEvent(ds[0], fx, 1), &repoconfig.Config{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := triggersObjects("bench-ns", sample, secret)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var tmpl any
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
		if o.GetKind() == "TriggerTemplate" {
			tmpl = o.Object["spec"].(map[string]any)["resourcetemplates"].([]any)[0]
		}
	}
	wantKinds := []string{"Secret/bench-ns/github-webhook-secret", "TriggerBinding/bench-ns/bench-push", "TriggerTemplate/bench-ns/bench-ci",
		"Trigger/bench-ns/bench-push", "EventListener/bench-ns/bench"}
	if d := cmp.Diff(wantKinds, kinds); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}
	raw, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	// The second push: the template must not keep the sample's values.
	d := ds[1]
	bound := map[string]string{"repo-url": fx.cloneURL, "revision": d.sha, "ref": fx.ref, "repo": fx.repo, "delivery": d.id, "event-id": "triggers-event-1"}
	filled := string(raw)
	for _, p := range bindingParams {
		filled = strings.ReplaceAll(filled, tt(p.name), bound[p.name])
	}
	if strings.Contains(filled, "$(") {
		t.Fatalf("template references a param the binding does not set: %s", filled)
	}
	var got pipelinev1.PipelineRun
	if err := json.Unmarshal([]byte(filled), &got); err != nil {
		t.Fatal(err)
	}
	want, err := tekton.NewCIRun(floorEvent(d, fx, 1), &repoconfig.Config{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	// What differs by design: the name (Triggers generates it), the
	// namespace (the EventListener's), the event id, the full SHA as tag.
	want.GenerateName, want.Name, want.Namespace = want.Labels[tekton.LabelApp]+"-", "", ""
	want.Labels[tekton.LabelEventID] = "triggers-event-1"
	for i, p := range want.Spec.Params {
		if p.Name == "image-tag" {
			want.Spec.Params[i].Value = *pipelinev1.NewStructuredValues(d.sha)
		}
	}
	if diff := cmp.Diff(want, &got); diff != "" {
		t.Errorf("run from the template (-floor's +got):\n%s", diff)
	}
}

func TestInterceptorTLS(t *testing.T) {
	m, err := interceptorTLS([]string{"svc.ns.svc", "localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(m.ServerCert, m.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(m.CACert) {
		t.Fatal("CA certificate does not parse")
	}
	tests := []struct {
		serverName string
		ok         bool
	}{
		{"", true}, // the URL's host, 127.0.0.1
		{"svc.ns.svc", true},
		{"localhost", true},
		{"other.ns.svc", false},
	}
	for _, tt := range tests {
		t.Run(tt.serverName, func(t *testing.T) {
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: tt.serverName, MinVersion: tls.VersionTLS12}}}
			resp, err := c.Get(srv.URL)
			if err == nil {
				resp.Body.Close()
			}
			if (err == nil) != tt.ok {
				t.Errorf("GET with server name %q: %v, want ok=%v", tt.serverName, err, tt.ok)
			}
		})
	}
}

func TestSinkCommand(t *testing.T) {
	logData := map[string]string{"zap-logger-config": `{"level":"debug","encoding":"json"}`, "loglevel.eventlistener": "info", "loglevel.controller": "debug"}
	obsData := map[string]string{"metrics-protocol": "prometheus"}
	common := []string{
		`K_LOGGING_CONFIG={"zap-logger-config":"{\"encoding\":\"json\",\"level\":\"info\"}"}`,
		"K_OBSERVABILITY_CONFIG", // checked apart
		"NAMESPACE=ns", "NAME=bench", "EL_EVENT=disable", "K_SINK_TIMEOUT=5",
		"SYSTEM_NAMESPACE=ns", "METRICS_PROMETHEUS_PORT=9001", "KUBERNETES_MIN_VERSION=v1.28.0", "KUBECONFIG=/k",
	}
	tests := []struct {
		variant sinkVariant
		wantEnv []string
	}{
		{sinkVariants[0], common},
		{sinkVariants[1], append(append([]string{}, common...), "KUBE_API_QPS=1000", "KUBE_API_BURST=2000")},
	}
	wantArgs := []string{
		"--el-name=bench", "--el-namespace=ns", "--port=8081",
		"--readtimeout=5", "--writetimeout=40", "--idletimeout=30", "--timeouthandler=5",
		"--httpclient-readtimeout=30", "--httpclient-keep-alive=30", "--httpclient-tlshandshaketimeout=10",
		"--httpclient-responseheadertimeout=10", "--httpclient-expectcontinuetimeout=1",
		"--is-multi-ns=false", "--payload-validation=true", "--cloudevent-uri=",
	}
	for _, tt := range tests {
		t.Run(tt.variant.name, func(t *testing.T) {
			args, env, err := sinkCommand("ns", 8081, 9001, "/k", logData, obsData, tt.variant.extra)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantArgs, args); d != "" {
				t.Errorf("args (-want +got):\n%s", d)
			}
			obs, ok := strings.CutPrefix(env[1], "K_OBSERVABILITY_CONFIG=")
			if !ok {
				t.Fatalf("env[1] = %q, want K_OBSERVABILITY_CONFIG", env[1])
			}
			var oc struct {
				Metrics struct{ Protocol string } `json:"metrics"`
			}
			if err := json.Unmarshal([]byte(obs), &oc); err != nil || oc.Metrics.Protocol != "prometheus" {
				t.Errorf("K_OBSERVABILITY_CONFIG = %s (%v), want metrics protocol prometheus", obs, err)
			}
			env[1] = "K_OBSERVABILITY_CONFIG"
			if d := cmp.Diff(tt.wantEnv, env); d != "" {
				t.Errorf("env (-want +got):\n%s", d)
			}
		})
	}
}

func TestReadManifests(t *testing.T) {
	dir := t.TempDir()
	doc := "---\n# a comment only\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: tekton-pipelines}\ndata: {k: v}\n---\n" +
		"apiVersion: triggers.tekton.dev/v1alpha1\nkind: ClusterInterceptor\nmetadata: {name: github}\n"
	if err := os.WriteFile(filepath.Join(dir, "x.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	objs, err := readManifests(dir, "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		_, known := resources[o.GroupVersionKind()]
		got = append(got, o.GetKind()+"/"+o.GetName()+"/"+map[bool]string{true: "known", false: "unknown"}[known])
	}
	if d := cmp.Diff([]string{"ConfigMap/a/known", "ClusterInterceptor/github/known"}, got); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}
}

func TestWriteTableTriggersRows(t *testing.T) {
	st := func(p50 time.Duration, lost int) Stats {
		return Stats{Events: 10, Accepted: 10, AnswerP50: time.Millisecond, AnswerP99: 2 * time.Millisecond, VisibleP50: p50, VisibleP99: 2 * p50,
			EventsPerSec: 100, RunsPerSec: 5, Lost: lost}
	}
	trig := &TriggersResult{Rows: []TriggersRow{{Variant: "installed", Concurrency: 8, Floor: st(10*time.Millisecond, 0),
		Triggers: st(time.Second, 1), CPU: 1500 * time.Millisecond, PeakRSSKiB: 2048, BadSignature: 202}}}
	var b strings.Builder
	if err := WriteTable(&b, nil, trig); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"| — | c=8 | floor | 10/10 | 1.0 | 2.0 | 10.0 | 20.0 | — | 5 | 0 | 0 |  |  |  |",
		"| — | c=8 | triggers installed | 10/10 | 1.0 | 2.0 | 1000.0 | 2000.0 | 100 | 5 | 1 | 0 | 1.50 | 2 | 202, no run |",
	}
	lines := strings.Split(b.String(), "\n")
	if len(lines) < 4 {
		t.Fatalf("table:\n%s", b.String())
	}
	if d := cmp.Diff(want, lines[2:4]); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
}
