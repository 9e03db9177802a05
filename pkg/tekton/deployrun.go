package tekton

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

// DeployPipeline is the name of the Pipeline every deploy PipelineRun references.
const DeployPipeline = "slipway-deploy"

// Labels of deploy PipelineRuns (besides LabelApp, LabelKind = "deploy"
// and LabelPipeline = "deploy"). They deliberately do not carry
// LabelManaged: that one selects the CI runs the reporter turns into
// commit statuses.
const (
	// LabelManagedBy is the Kubernetes recommended label, "slipway".
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelEnv is the environment a deploy run rolls out to.
	LabelEnv = "slipway.dev/env"
	// LabelCluster is the cluster (of the environment) it rolls out to.
	LabelCluster = "slipway.dev/cluster"
	// LabelPromotion is the store id of the promotion that started it.
	LabelPromotion = "slipway.dev/promotion"
	// LabelMode is the run's mode (rollout.Mode).
	LabelMode = "slipway.dev/deploy-mode"
)

// KindDeploy is the LabelKind and LabelPipeline value of deploy runs.
const KindDeploy = "deploy"

// PauseManual as DeployRunOptions.Pause makes each canary step wait for a
// continue signal instead of a duration.
const PauseManual = rollout.PauseManual

// DeployRunOptions describe one rollout of one digest to one app in one
// cluster, run as a PipelineRun of the deploy Pipeline.
type DeployRunOptions struct {
	// Mode is what the run does; empty = a rollout. Removing a canary
	// and deleting an app need no Image and no rollout settings.
	Mode rollout.Mode
	// Namespace and Name of the PipelineRun (the deploy namespace, never
	// the builds one: it holds the kubeconfig Secrets the run mounts);
	// Name is deterministic, given by the caller (see DeployRunName).
	Namespace, Name string
	// SlipwayImage runs the deploy step; ServiceAccount runs the TaskRun
	// (empty = the namespace's default) and, without KubeconfigSecret, is
	// the identity that changes the target namespace.
	SlipwayImage, ServiceAccount string
	// App, Env and Cluster become labels, so runs can be found per app.
	App, Env, Cluster string
	// PromotionID becomes a label; 0 (the automatic deploy after CI) is
	// recorded as "0".
	PromotionID int64
	// Image is REPO@sha256:… (rollout mode only).
	Image string
	// TargetNamespace and Deployment are where the app runs in the target
	// cluster (Deployment also names the Service).
	TargetNamespace, Deployment string
	// Strategy is rolling, bluegreen or canary; empty = the Pipeline's default.
	Strategy string
	// Steps are the canary sizes in percent; empty = the Pipeline's default.
	Steps []int
	// Pause is a duration or PauseManual; empty = the Pipeline's default.
	Pause string
	// SmokeURL (blue-green) must answer 2xx before the switch.
	SmokeURL string
	// ScaleDownDelay (blue-green) is passed whenever set, zero included
	// (switch and scale the old colour down at once); nil keeps the
	// Pipeline's default.
	ScaleDownDelay *time.Duration
	// A zero ProgressDeadline keeps the Pipeline's default (zero means the
	// default to `slipway deploy` too); Timeout zero keeps Tekton's.
	ProgressDeadline, Timeout time.Duration
	// MaxRestarts tolerated for the new pods.
	MaxRestarts int32
	// PrometheusURL answers the Analysis queries ("NAME=PROMQL<=MAX" or ">=MIN").
	PrometheusURL string
	Analysis      []string
	// HTTPRoute carries canary traffic weights via the Gateway API ("" = none).
	HTTPRoute string
	// NginxIngress carries canary weights via an ingress-nginx canary copy ("" = none).
	NginxIngress string
	// KubeconfigSecret (key "kubeconfig") is bound to the kubeconfig
	// workspace; "" deploys into the cluster the PipelineRun runs in.
	KubeconfigSecret string
	// SourceURL and SourceRevision (a full commit SHA): the deploy task
	// clones the app's repository at that commit and applies the manifests
	// its .slipway.yaml names (rollout mode only). Empty: image swap.
	SourceURL, SourceRevision string
	// GitCredentialsSecret (.git-credentials, .gitconfig) is bound for
	// that clone; "" clones anonymously.
	GitCredentialsSecret string
	// DryRun (delete-app only) lists what would be deleted in the run's
	// objects result and deletes nothing.
	DryRun bool
	// Claimed (orphans only) are the apps the release config lists; the
	// run reports the objects labelled for any other app.
	Claimed []string
}

func (o DeployRunOptions) validate() error {
	if o.Mode != "" && !o.Mode.Valid() {
		return fmt.Errorf("deploy run: unknown mode %q", o.Mode)
	}
	rolls := o.Mode == "" || o.Mode == rollout.ModeRollout
	switch {
	case o.Namespace == "" || o.Name == "":
		return fmt.Errorf("deploy run: namespace and name are required")
	case o.SlipwayImage == "":
		return fmt.Errorf("deploy run: slipway image is required")
	case (o.App == "" && o.Mode != rollout.ModeOrphans) || o.Env == "":
		return fmt.Errorf("deploy run: app and env are required")
	case o.TargetNamespace == "" || (o.Deployment == "" && o.Mode != rollout.ModeOrphans):
		return fmt.Errorf("deploy run: target namespace and deployment are required")
	case rolls && !strings.Contains(o.Image, "@sha256:"):
		return fmt.Errorf("deploy run: image %q must be REPO@sha256:<digest>", o.Image)
	case (o.ScaleDownDelay != nil && *o.ScaleDownDelay < 0) || o.ProgressDeadline < 0 || o.Timeout < 0 || o.MaxRestarts < 0:
		return fmt.Errorf("deploy run: durations and max restarts must not be negative")
	case len(o.Analysis) > 0 && o.PrometheusURL == "":
		return fmt.Errorf("deploy run: analysis queries need a Prometheus URL")
	}
	if o.SourceURL != "" {
		if !rolls {
			return fmt.Errorf("deploy run: %s takes no source", o.Mode)
		}
		if !fullSHA(o.SourceRevision) {
			return fmt.Errorf("deploy run: source revision %q must be a full commit SHA", o.SourceRevision)
		}
	}
	if o.DryRun && o.Mode != rollout.ModeDeleteApp {
		return fmt.Errorf("deploy run: dry run is for %s only", rollout.ModeDeleteApp)
	}
	if len(o.Claimed) > 0 && o.Mode != rollout.ModeOrphans {
		return fmt.Errorf("deploy run: claimed apps are for %s only", rollout.ModeOrphans)
	}
	for _, a := range o.Claimed {
		if errs := validation.IsDNS1123Label(a); len(errs) > 0 {
			return fmt.Errorf("deploy run: claimed app %q: %s", a, strings.Join(errs, "; "))
		}
	}
	if o.Strategy != "" && !rollout.Strategy(o.Strategy).Valid() {
		return fmt.Errorf("deploy run: unknown strategy %q (want rolling, bluegreen or canary)", o.Strategy)
	}
	if !rolls && (o.Image != "" || o.Strategy != "" || len(o.Steps) > 0 || o.Pause != "" || o.SmokeURL != "" || len(o.Analysis) > 0) {
		return fmt.Errorf("deploy run: %s takes no image and no rollout settings", o.Mode)
	}
	if o.Pause != "" && o.Pause != PauseManual {
		if d, err := time.ParseDuration(o.Pause); err != nil || d < 0 {
			return fmt.Errorf("deploy run: pause %q: want a duration or %q", o.Pause, PauseManual)
		}
	}
	for what, v := range map[string]string{"name": o.Name, "app": o.App, "env": o.Env, "cluster": o.Cluster} {
		if v == "" {
			continue
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("deploy run: %s %q: %s", what, v, strings.Join(errs, "; "))
		}
	}
	for what, v := range map[string]string{"name": o.Name, "service account": o.ServiceAccount, "kubeconfig secret": o.KubeconfigSecret, "target namespace": o.TargetNamespace, "git credentials secret": o.GitCredentialsSecret} {
		if v == "" {
			continue
		}
		if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
			return fmt.Errorf("deploy run: %s %q: %s", what, v, strings.Join(errs, "; "))
		}
	}
	return nil
}

// NewDeployRun builds the PipelineRun of the deploy Pipeline. It is pure:
// the same options give the same object, so creating it twice is detectable
// by its name.
func NewDeployRun(o DeployRunOptions) (*pipelinev1.PipelineRun, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	mode := o.Mode
	if mode == "" {
		mode = rollout.ModeRollout
	}
	labels := map[string]string{
		LabelMode:      string(mode),
		LabelManagedBy: "slipway",
		LabelKind:      KindDeploy,
		LabelPipeline:  KindDeploy,
		LabelApp:       o.App,
		LabelEnv:       o.Env,
		LabelPromotion: strconv.FormatInt(o.PromotionID, 10),
	}
	if o.Cluster != "" {
		labels[LabelCluster] = o.Cluster
	}
	str := func(name, v string) pipelinev1.Param {
		return pipelinev1.Param{Name: name, Value: *pipelinev1.NewStructuredValues(v)}
	}
	// The mode is always spelled out, so a run says what it does.
	params := pipelinev1.Params{str("slipway-image", o.SlipwayImage), str("mode", string(mode))}
	// Only what is set is passed, so the Pipeline's defaults stay the one
	// place that defines them.
	opt := func(name, v string) {
		if v != "" {
			params = append(params, str(name, v))
		}
	}
	opt("image", o.Image)
	params = append(params, str("namespace", o.TargetNamespace), str("app", o.Deployment))
	dur := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	opt("strategy", o.Strategy)
	if len(o.Steps) > 0 {
		s := make([]string, len(o.Steps))
		for i, n := range o.Steps {
			s[i] = strconv.Itoa(n)
		}
		opt("steps", strings.Join(s, ","))
	}
	opt("pause", o.Pause)
	opt("smoke-url", o.SmokeURL)
	if o.ScaleDownDelay != nil {
		params = append(params, str("scale-down-delay", o.ScaleDownDelay.String()))
	}
	opt("progress-deadline", dur(o.ProgressDeadline))
	if o.MaxRestarts > 0 {
		opt("max-restarts", strconv.Itoa(int(o.MaxRestarts)))
	}
	opt("prometheus-url", o.PrometheusURL)
	if len(o.Analysis) > 0 {
		// Built by hand: NewStructuredValues makes one value a string.
		params = append(params, pipelinev1.Param{Name: "analysis", Value: pipelinev1.ParamValue{Type: pipelinev1.ParamTypeArray, ArrayVal: append([]string(nil), o.Analysis...)}})
	}
	opt("http-route", o.HTTPRoute)
	opt("nginx-ingress", o.NginxIngress)
	opt("environment", o.Env)
	opt("source-url", o.SourceURL)
	opt("source-revision", o.SourceRevision)
	if o.DryRun {
		params = append(params, str("dry-run", "true"))
	}
	opt("claimed", strings.Join(o.Claimed, ","))

	pr := &pipelinev1.PipelineRun{
		TypeMeta: metav1.TypeMeta{APIVersion: pipelinev1.SchemeGroupVersion.String(), Kind: "PipelineRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      o.Name,
			Namespace: o.Namespace,
			Labels:    labels,
		},
		Spec: pipelinev1.PipelineRunSpec{
			PipelineRef:     &pipelinev1.PipelineRef{Name: DeployPipeline},
			Params:          params,
			TaskRunTemplate: pipelinev1.PipelineTaskRunTemplate{ServiceAccountName: o.ServiceAccount},
		},
	}
	if o.KubeconfigSecret != "" {
		pr.Spec.Workspaces = append(pr.Spec.Workspaces, pipelinev1.WorkspaceBinding{
			Name:   "kubeconfig",
			Secret: &corev1.SecretVolumeSource{SecretName: o.KubeconfigSecret},
		})
	}
	if o.GitCredentialsSecret != "" && o.SourceURL != "" {
		pr.Spec.Workspaces = append(pr.Spec.Workspaces, pipelinev1.WorkspaceBinding{
			Name:   "git-credentials",
			Secret: &corev1.SecretVolumeSource{SecretName: o.GitCredentialsSecret},
		})
	}
	if o.Timeout > 0 {
		pr.Spec.Timeouts = &pipelinev1.TimeoutFields{Pipeline: &metav1.Duration{Duration: o.Timeout}}
	}
	if err := ValidatePipelineRun(context.Background(), pr); err != nil {
		return nil, err
	}
	return pr, nil
}

// DeployRunName is "deploy-<app>-<env>-<cluster>-<promotion id>", cut so the
// whole fits a DNS label, with 8 hex of a hash of the full tuple so two
// tuples never share a name. The same inputs always give the same name.
func DeployRunName(app, env, cluster string, promotionID int64) string {
	return ModeRunName(rollout.ModeRollout, app, env, cluster, strconv.FormatInt(promotionID, 10))
}

// ModeRunName is DeployRunName for a run of mode m: "deploy-…" for a
// rollout, "remove-canary-…" and "delete-app-…" for the others; id tells
// runs of the same app, environment and cluster apart.
func ModeRunName(m rollout.Mode, app, env, cluster, id string) string {
	h := sha256.Sum256([]byte(string(m) + "\x00" + app + "\x00" + env + "\x00" + cluster + "\x00" + id))
	if m == rollout.ModeRollout {
		// The names rollouts always had, so a restart finds its runs.
		h = sha256.Sum256([]byte(app + "\x00" + env + "\x00" + cluster + "\x00" + id))
	}
	suffix := "-" + dnsLabel(id) + "-" + hex.EncodeToString(h[:4])
	prefix0 := "deploy"
	if m != rollout.ModeRollout {
		prefix0 = string(m)
	}
	parts := []string{prefix0, app, env}
	if cluster != "" {
		parts = append(parts, cluster)
	}
	prefix := dnsLabel(strings.Join(parts, "-"))
	if room := validation.DNS1123LabelMaxLength - len(suffix); len(prefix) > room {
		if room < 0 {
			room = 0
		}
		prefix = strings.TrimRight(prefix[:room], "-")
	}
	return strings.TrimLeft(prefix+suffix, "-")
}

// dnsLabel lowercases s and turns runs of other characters into one '-'.
func dnsLabel(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

// fullSHA: 40 or 64 lowercase hex digits.
func fullSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
