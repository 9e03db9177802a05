package dispatch

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"knative.dev/pkg/observability"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/slipway-ci/slipway/pkg/tekton"
)

// Names of the Triggers objects the bench creates in its namespace.
const (
	elName            = "bench"
	triggerName       = "bench-push"
	bindingName       = "bench-push"
	templateName      = "bench-ci"
	webhookSecretName = "github-webhook-secret"
	webhookSecretKey  = "secretToken"
	// interceptorSvc and interceptorSecret are what Triggers' install
	// names the core interceptors' Service and TLS secret.
	interceptorSvc    = "tekton-triggers-core-interceptors"
	interceptorSecret = "tekton-triggers-core-interceptors-certs"
	// interceptorPort is fixed in cmd/interceptors (HTTPSPort).
	interceptorPort = 8443
)

// bindingParams are the TriggerBinding's params: what each push changes in
// the floor's PipelineRun, read from the push as a Triggers user would.
var bindingParams = []struct{ name, value string }{
	{"repo-url", "$(body.repository.clone_url)"},
	{"revision", "$(body.after)"},
	{"ref", "$(body.ref)"},
	{"repo", "$(body.repository.full_name)"},
	{"delivery", "$(header.X-GitHub-Delivery)"},
	{"event-id", "$(context.eventID)"},
}

func tt(param string) string { return "$(tt.params." + param + ")" }

// templateRun turns the floor's PipelineRun for one push into the
// TriggerTemplate's resource template: the same Pipeline, params, labels
// and annotations, with what differs per push taken from the binding.
// Two values cannot be the floor's: the event-id label is Triggers' own
// event id (it has no Slipway event), and image-tag is the whole SHA, as
// cutting it to 8 characters would need a CEL interceptor, a second
// interceptor call per push that the floor's run does not need either.
// The labels hashed from the repository and branch keep the floor's
// values: every push of the fixture has the same ones.
func templateRun(pr *pipelinev1.PipelineRun) (map[string]any, error) {
	run := pr.DeepCopy()
	run.Namespace = ""
	run.GenerateName = pr.Labels[tekton.LabelApp] + "-"
	run.Name = ""
	run.Labels = maps.Clone(pr.Labels)
	run.Labels[tekton.LabelSHA] = tt("revision")
	run.Labels[tekton.LabelEventID] = tt("event-id")
	run.Annotations = maps.Clone(pr.Annotations)
	run.Annotations[tekton.AnnotationRepo] = tt("repo")
	run.Annotations[tekton.AnnotationRef] = tt("ref")
	run.Annotations[tekton.AnnotationDelivery] = tt("delivery")
	run.Annotations[tekton.AnnotationCloneURL] = tt("repo-url")
	perPush := map[string]string{"repo-url": tt("repo-url"), "revision": tt("revision"), "ref": tt("ref"), "image-tag": tt("revision")}
	for i, p := range run.Spec.Params {
		if v, ok := perPush[p.Name]; ok {
			run.Spec.Params[i].Value = *pipelinev1.NewStructuredValues(v)
		}
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(run)
	if err != nil {
		return nil, fmt.Errorf("template PipelineRun: %w", err)
	}
	// A create carries no status; the converter writes an empty one.
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	return m, nil
}

// triggersObjects are the user's objects in ns: the webhook secret, a
// TriggerBinding and TriggerTemplate that make pr's run from each push, a
// Trigger behind the core github ClusterInterceptor (secretRef,
// eventTypes [push]) and the EventListener.
func triggersObjects(ns string, pr *pipelinev1.PipelineRun, webhookSecret string) ([]*unstructured.Unstructured, error) {
	tmpl, err := templateRun(pr)
	if err != nil {
		return nil, err
	}
	obj := func(apiVersion, kind, name string, fields map[string]any) *unstructured.Unstructured {
		m := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name, "namespace": ns}}
		maps.Copy(m, fields)
		return &unstructured.Unstructured{Object: m}
	}
	var bparams, tparams []any
	for _, p := range bindingParams {
		bparams = append(bparams, map[string]any{"name": p.name, "value": p.value})
		tparams = append(tparams, map[string]any{"name": p.name})
	}
	const v1beta1 = "triggers.tekton.dev/v1beta1"
	return []*unstructured.Unstructured{
		obj("v1", "Secret", webhookSecretName, map[string]any{"stringData": map[string]any{webhookSecretKey: webhookSecret}}),
		obj(v1beta1, "TriggerBinding", bindingName, map[string]any{"spec": map[string]any{"params": bparams}}),
		obj(v1beta1, "TriggerTemplate", templateName, map[string]any{"spec": map[string]any{
			"params": tparams, "resourcetemplates": []any{tmpl},
		}}),
		obj(v1beta1, "Trigger", triggerName, map[string]any{"spec": map[string]any{
			"interceptors": []any{map[string]any{
				"ref": map[string]any{"name": "github", "kind": "ClusterInterceptor"},
				"params": []any{
					map[string]any{"name": "secretRef", "value": map[string]any{"secretName": webhookSecretName, "secretKey": webhookSecretKey}},
					map[string]any{"name": "eventTypes", "value": []any{"push"}},
				},
			}},
			"bindings": []any{map[string]any{"ref": bindingName}},
			"template": map[string]any{"ref": templateName},
		}}),
		obj(v1beta1, "EventListener", elName, map[string]any{"spec": map[string]any{
			"triggers": []any{map[string]any{"triggerRef": triggerName}},
		}}),
	}, nil
}

// sinkCommand is the EventListener sink's arguments and environment as the
// Triggers v0.37.0 controller renders them for the EventListener's pod
// (pkg/reconciler/eventlistener/resources/container.go, deployment.go; the
// timeouts are its defaults), with the two ports free on this machine, the
// bench's kubeconfig standing in for the service account, and extra added
// last as a user's env in the EventListener's pod template would be.
func sinkCommand(ns string, port, metricsPort int, kubeconfig string, logging, observability map[string]string, extra []string) (args, env []string, err error) {
	args = []string{
		"--el-name=" + elName, "--el-namespace=" + ns, "--port=" + strconv.Itoa(port),
		"--readtimeout=5", "--writetimeout=40", "--idletimeout=30", "--timeouthandler=5",
		"--httpclient-readtimeout=30", "--httpclient-keep-alive=30", "--httpclient-tlshandshaketimeout=10",
		"--httpclient-responseheadertimeout=10", "--httpclient-expectcontinuetimeout=1",
		"--is-multi-ns=false", "--payload-validation=true", "--cloudevent-uri=",
	}
	logCfg, obsCfg, err := sinkConfigEnv(logging, observability)
	if err != nil {
		return nil, nil, err
	}
	env = []string{
		"K_LOGGING_CONFIG=" + logCfg, "K_OBSERVABILITY_CONFIG=" + obsCfg,
		"NAMESPACE=" + ns, "NAME=" + elName, "EL_EVENT=disable", "K_SINK_TIMEOUT=5",
		"SYSTEM_NAMESPACE=" + ns, "METRICS_PROMETHEUS_PORT=" + strconv.Itoa(metricsPort), "KUBERNETES_MIN_VERSION=v1.28.0",
		"KUBECONFIG=" + kubeconfig,
	}
	return args, append(env, extra...), nil
}

// sinkConfigEnv renders K_LOGGING_CONFIG and K_OBSERVABILITY_CONFIG from
// the config-logging-triggers and config-observability-triggers data as
// the controller's config watcher does (knative eventing's
// ConfigWatcher.ToEnvVars): the zap config with the "eventlistener"
// component's level applied, under knative's "zap-logger-config" key, and
// the observability config as knative parses it.
func sinkConfigEnv(logData, obsData map[string]string) (string, string, error) {
	zapCfg := logData["zap-logger-config"]
	if lvl := logData["loglevel.eventlistener"]; lvl != "" && zapCfg != "" {
		var zc map[string]any
		if err := json.Unmarshal([]byte(zapCfg), &zc); err != nil {
			return "", "", fmt.Errorf("config-logging-triggers zap-logger-config: %w", err)
		}
		zc["level"] = lvl
		b, err := json.Marshal(zc)
		if err != nil {
			return "", "", fmt.Errorf("config-logging-triggers zap-logger-config: %w", err)
		}
		zapCfg = string(b)
	}
	logJSON, err := json.Marshal(map[string]string{"zap-logger-config": zapCfg})
	if err != nil {
		return "", "", fmt.Errorf("config-logging-triggers: %w", err)
	}
	oc, err := observability.NewFromMap(obsData)
	if err != nil {
		return "", "", fmt.Errorf("config-observability-triggers: %w", err)
	}
	obsJSON, err := json.Marshal(oc)
	if err != nil {
		return "", "", fmt.Errorf("config-observability-triggers: %w", err)
	}
	return string(logJSON), string(obsJSON), nil
}

// interceptorsEnv is the core interceptors' environment from Triggers'
// config/interceptors/core-interceptors-deployment.yaml, in the bench
// namespace (the pod's own namespace in that Deployment).
func interceptorsEnv(ns, kubeconfig string) []string {
	return []string{
		"SYSTEM_NAMESPACE=" + ns, "CONFIG_LOGGING_NAME=config-logging-triggers",
		"CONFIG_OBSERVABILITY_NAME=config-observability-triggers", "METRICS_DOMAIN=tekton.dev/triggers",
		"INTERCEPTOR_TLS_SVC_NAME=" + interceptorSvc, "INTERCEPTOR_TLS_SECRET_NAME=" + interceptorSecret,
		"KUBERNETES_MIN_VERSION=v1.28.0", "KUBECONFIG=" + kubeconfig,
	}
}

// interceptorTLSSecret holds m under the keys the interceptors read.
func interceptorTLSSecret(ns string, m tlsMaterial) *unstructured.Unstructured {
	b64 := base64.StdEncoding.EncodeToString
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": interceptorSecret, "namespace": ns},
		"data":     map[string]any{"ca-cert.pem": b64(m.CACert), "server-cert.pem": b64(m.ServerCert), "server-key.pem": b64(m.ServerKey)},
	}}
}
