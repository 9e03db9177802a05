package tekton

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/pod"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/policy"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// DefaultWorkspaceSize is the size of the source volume when RunOptions.Size is zero.
const DefaultWorkspaceSize = "1Gi"

// DefaultPRImageSuffix: merge requests push to <prefix>/<app>/pr.
const DefaultPRImageSuffix = "pr"

// Trust levels of a run (LabelTrust): a merge request's code is untrusted
// even once approved, and builds sandboxed.
const (
	TrustTrusted   = "trusted"
	TrustUntrusted = "untrusted"
)

// RunOptions are the cluster-side settings of every CI PipelineRun.
type RunOptions struct {
	// Namespace of the PipelineRuns (where Install put the Pipeline). Required.
	Namespace string
	// ImagePrefix is prepended to the app name to form the image repository,
	// e.g. "registry.local:5000/team" gives "registry.local:5000/team/web". Required.
	ImagePrefix string
	// SlipwayImage is the tools image every Slipway task runs in. Required.
	SlipwayImage string
	// ServiceAccount runs the TaskRuns; empty means the namespace's default.
	ServiceAccount string
	// GitCredentialsSecret, when set, is bound as the git-credentials workspace.
	GitCredentialsSecret string
	// StorageClass of the source volume; empty means the cluster default.
	StorageClass string
	// Size of the source volume; empty means DefaultWorkspaceSize.
	Size string
	// Timeout bounds the whole PipelineRun; zero means Tekton's default.
	Timeout time.Duration
	// BaseRegistry is the registry prefix of the language base images;
	// empty keeps the pipeline's default.
	BaseRegistry string
	// BuildkitAddr is the shared buildkitd; empty keeps the pipeline's default.
	BuildkitAddr string
	// BuildkitTLSSecret, when set, names the Secret (ca.crt, tls.crt,
	// tls.key) holding the client certificate of a buildkitd that requires
	// mutual TLS; it is bound as the buildkit-tls workspace, which the
	// Pipeline passes to the build step alone.
	BuildkitTLSSecret string
	// BuilderID is recorded as the provenance builder id; empty keeps the
	// build's default (build.DefaultBuilderID), which the promotion gate
	// of a configured Slipway does not accept.
	BuilderID string
	// SBOMGeneratorImage is the image BuildKit runs to attach an SPDX SBOM
	// to every build; empty keeps the pipeline's default (no SBOM).
	SBOMGeneratorImage string
	// InsecureRegistry pushes over plain HTTP (local development only).
	InsecureRegistry bool
	// FSGroup is the pods' fsGroup, so the non-root Slipway steps can write
	// the freshly provisioned (root-owned) workspace volume; 0 leaves it unset.
	FSGroup int64
	// Languages is the platform's languages configuration as a document
	// `slipway render --languages` reads (a languages: section); empty
	// keeps the template metadata.
	Languages string
	// Package mirrors, each handed alike to the Dockerfile step (render)
	// and the unit-test step; empty keeps the pipeline's default.
	GoProxy, NpmRegistry, PipIndexURL, MavenSettings string
	MavenOffline                                     bool
	// PRImageSuffix is the path element merge request builds push under:
	// <ImagePrefix>/<app>/<suffix>, never the app's own repository; empty
	// means DefaultPRImageSuffix.
	PRImageSuffix string
	// PRBuildkitAddr, when set, is a buildkitd of its own for merge request
	// builds, so not even a repository's own Dockerfile can reach the
	// cache mounts of trusted builds; empty: BuildkitAddr.
	PRBuildkitAddr string
	// TestCache keeps the unit-test step's dependency caches in the
	// registry, at <ImagePrefix>/<app>/depcache (pkg/depcache): restored
	// by every run, saved by trusted ones only, so a merge request reads
	// main's cache and never writes it.
	TestCache bool
	// TestMemoryLimit bounds the unit-test step's memory (a quantity,
	// "1Gi"), so a runaway test is killed as out of memory rather than
	// starving the node; empty: no limit beyond the namespace's.
	TestMemoryLimit string
	// Policy is the platform's dependency policy; each run gets its app's
	// merged rules (policy.File.For). Nil or empty (no rule at any
	// level): no policy, the policy step passes and records "no policy".
	Policy *policy.File
	// AdvisoriesConfigMap names the ConfigMap in Namespace holding the
	// offline advisory feed (OSV JSON records), bound as the policy step's
	// advisories workspace; empty: no advisory check.
	AdvisoriesConfigMap string
	// Steps is the platform's allowlist of the images and Secrets
	// .slipway.yaml's steps and services may use; the zero value: the
	// app's build image only, no Secret.
	Steps repoconfig.StepPolicy
}

func (o RunOptions) validate() error {
	switch {
	case o.Namespace == "":
		return fmt.Errorf("run options: namespace is required")
	case o.ImagePrefix == "":
		return fmt.Errorf("run options: image prefix is required")
	case o.SlipwayImage == "":
		return fmt.Errorf("run options: slipway image is required")
	case o.Timeout < 0:
		return fmt.Errorf("run options: negative timeout %s", o.Timeout)
	case o.PRImageSuffix != "" && (strings.Trim(o.PRImageSuffix, "/") != o.PRImageSuffix || strings.Contains(o.PRImageSuffix, ":") || strings.Contains(o.PRImageSuffix, "@")):
		return fmt.Errorf("run options: PR image suffix %q must be a repository path element, like \"pr\"", o.PRImageSuffix)
	}
	if err := o.Steps.Validate(); err != nil {
		return fmt.Errorf("run options: %w", err)
	}
	// Tekton does not check these names; a typo would only show as a run
	// stuck on a missing object.
	for what, name := range map[string]string{"service account": o.ServiceAccount, "git credentials secret": o.GitCredentialsSecret, "buildkit TLS secret": o.BuildkitTLSSecret, "storage class": o.StorageClass, "advisories ConfigMap": o.AdvisoriesConfigMap} {
		if name == "" {
			continue
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return fmt.Errorf("run options: %s %q: %s", what, name, strings.Join(errs, "; "))
		}
	}
	return nil
}

// NewCIRun builds the PipelineRun of the CI pipeline for a Build event. It
// is pure: the same event and options always give the same object, whose
// name derives from the delivery, so creating it twice is detectable.
func NewCIRun(ev *event.Event, rc *repoconfig.Config, o RunOptions) (*pipelinev1.PipelineRun, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if rc == nil {
		rc = &repoconfig.Config{}
	}
	if err := checkEvent(ev); err != nil {
		return nil, err
	}
	if err := rc.Validate(); err != nil {
		return nil, err
	}
	// Dispatch checked this already and failed the event with the reason;
	// checked again so no caller builds a run the platform does not allow.
	if err := rc.CheckAllowed(ev.Repo, o.Steps); err != nil {
		return nil, err
	}
	app := rc.App
	if app == "" {
		app = AppName(ev.Repo)
	}
	return newCIRun(ev, ciApp{name: app, image: app, rc: rc}, o)
}

// NewAppRun builds the PipelineRun of one app of a monorepo (.slipway.yaml
// apps:): the same pipeline, built, tested and rendered in app.Dir with
// app.Build, pushed to the app's own image, named and labelled after the
// app, and marked (AnnotationMonorepo) so its commit status is the app's
// own context. rc, the repository's whole file, brings its steps and
// services (nil: none). Like NewCIRun it is pure; a redelivery gets the
// same name.
func NewAppRun(ev *event.Event, rc *repoconfig.Config, app repoconfig.App, o RunOptions) (*pipelinev1.PipelineRun, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := checkEvent(ev); err != nil {
		return nil, err
	}
	if err := app.Validate(); err != nil {
		return nil, err
	}
	if rc == nil {
		rc = &repoconfig.Config{}
	}
	if err := rc.CheckAllowed(ev.Repo, o.Steps); err != nil {
		return nil, err
	}
	build, err := json.Marshal(app.Build)
	if err != nil {
		return nil, fmt.Errorf("app %s: encoding its build settings: %w", app.Name, err)
	}
	return newCIRun(ev, ciApp{name: app.Name, image: app.Image, dir: app.Dir, build: string(build), rc: rc}, o)
}

// ciApp is what one CI PipelineRun builds: the single app of a repository
// (dir empty: the generate step reads .slipway.yaml from the checkout) or
// one app of apps: (dir and build set by the dispatcher).
type ciApp struct {
	name, image string
	dir, build  string
	// rc brings the steps and services; never nil.
	rc *repoconfig.Config
}

func newCIRun(ev *event.Event, a ciApp, o RunOptions) (*pipelinev1.PipelineRun, error) {
	app := a.name
	size := o.Size
	if size == "" {
		size = DefaultWorkspaceSize
	}
	qty, err := resource.ParseQuantity(size)
	if err != nil {
		return nil, fmt.Errorf("run options: workspace size %q: %w", size, err)
	}

	short := ev.ShortSHA()
	mr := ""
	if ev.Kind == event.MergeRequest {
		mr = strconv.Itoa(ev.MRNumber)
	}
	labels := map[string]string{
		LabelManaged:  "true",
		LabelEventID:  strconv.FormatInt(ev.ID, 10),
		LabelProvider: string(ev.Provider),
		LabelKind:     string(ev.Kind),
		LabelApp:      app,
		LabelRepoHash: RepoHash(ev.Provider, ev.Repo),
		LabelSHA:      shaLabel(ev.SHA),
		LabelPipeline: KindCI,
		LabelTrust:    TrustTrusted,
	}
	if b := ev.Branch(); b != "" && ev.Kind != event.Tag {
		labels[LabelBranchHash] = BranchHash(b)
	}
	if mr != "" {
		labels[LabelMR] = mr
	}
	annotations := map[string]string{
		AnnotationRepo:     ev.Repo,
		AnnotationRef:      ev.Ref,
		AnnotationDelivery: ev.Delivery,
		AnnotationCloneURL: ev.CloneURL,
	}
	if ev.Kind == event.MergeRequest && ev.SourceBranch != "" {
		annotations[AnnotationSourceBranch] = ev.SourceBranch
	}
	if ev.ProjectID != 0 {
		annotations[AnnotationProjectID] = strconv.FormatInt(ev.ProjectID, 10)
	}
	if a.dir != "" {
		annotations[AnnotationMonorepo] = "true"
	}

	str := func(name, v string) pipelinev1.Param {
		return pipelinev1.Param{Name: name, Value: *pipelinev1.NewStructuredValues(v)}
	}
	pvc := corev1.PersistentVolumeClaim{
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: qty},
			},
		},
	}
	if o.StorageClass != "" {
		sc := o.StorageClass
		pvc.Spec.StorageClassName = &sc
	}
	image := strings.TrimSuffix(o.ImagePrefix, "/") + "/" + a.image
	sandboxed := ev.Kind == event.MergeRequest
	var cacheRef, cacheFrom string
	if sandboxed {
		// A merge request's image and cache live apart from the app's: it
		// reads main's cache and writes only its own.
		labels[LabelTrust] = TrustUntrusted
		suffix := o.PRImageSuffix
		if suffix == "" {
			suffix = DefaultPRImageSuffix
		}
		cacheFrom = image + ":buildcache"
		image += "/" + suffix
		cacheRef = image + ":buildcache"
	}
	ws := []pipelinev1.WorkspaceBinding{{Name: "source", VolumeClaimTemplate: &pvc}}
	// Merge requests clone the public ref with no git credentials: their
	// code must not be able to read them.
	if o.GitCredentialsSecret != "" && !sandboxed {
		ws = append(ws, pipelinev1.WorkspaceBinding{
			Name:   "git-credentials",
			Secret: &corev1.SecretVolumeSource{SecretName: o.GitCredentialsSecret},
		})
	}
	// Merge requests build too, so they hold it as well; what keeps their
	// code from the daemon is that only the build step mounts it.
	if o.BuildkitTLSSecret != "" {
		ws = append(ws, pipelinev1.WorkspaceBinding{
			Name:   "buildkit-tls",
			Secret: &corev1.SecretVolumeSource{SecretName: o.BuildkitTLSSecret},
		})
	}

	pr := &pipelinev1.PipelineRun{
		TypeMeta: metav1.TypeMeta{APIVersion: pipelinev1.SchemeGroupVersion.String(), Kind: "PipelineRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        RunName(app, ev),
			Namespace:   o.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: pipelinev1.PipelineRunSpec{
			PipelineRef: &pipelinev1.PipelineRef{Name: CIPipeline},
			Params: pipelinev1.Params{
				str("repo-url", ev.CloneURL),
				str("revision", ev.SHA),
				str("ref", FetchRef(ev)),
				str("app", app),
				str("image", image),
				str("image-tag", short),
				str("event-kind", string(ev.Kind)),
				str("mr-number", mr),
				str("slipway-image", o.SlipwayImage),
			},
			Workspaces:      ws,
			TaskRunTemplate: pipelinev1.PipelineTaskRunTemplate{ServiceAccountName: o.ServiceAccount},
		},
	}
	// Optional params are set only when configured, so the Pipeline's own
	// defaults stay the single place that defines them.
	if a.dir != "" {
		pr.Spec.Params = append(pr.Spec.Params, str("app-dir", a.dir), str("build-config", a.build))
	}
	if o.BaseRegistry != "" {
		pr.Spec.Params = append(pr.Spec.Params, str("base-registry", o.BaseRegistry))
	}
	buildkit := o.BuildkitAddr
	if sandboxed && o.PRBuildkitAddr != "" {
		buildkit = o.PRBuildkitAddr
	}
	if buildkit != "" {
		pr.Spec.Params = append(pr.Spec.Params, str("buildkit-addr", buildkit))
	}
	if sandboxed {
		pr.Spec.Params = append(pr.Spec.Params, str("cache-ref", cacheRef), str("cache-from", cacheFrom), str("cache-scope", TrustUntrusted))
	}
	if o.TestCache {
		pr.Spec.Params = append(pr.Spec.Params, str("cache-repo", strings.TrimSuffix(o.ImagePrefix, "/")+"/"+app+"/depcache"))
		if !sandboxed {
			pr.Spec.Params = append(pr.Spec.Params, str("cache-save", "true"))
		}
	}
	if o.BuilderID != "" {
		pr.Spec.Params = append(pr.Spec.Params, str("builder-id", o.BuilderID))
	}
	if o.SBOMGeneratorImage != "" {
		pr.Spec.Params = append(pr.Spec.Params, str("sbom-generator-image", o.SBOMGeneratorImage))
	}
	if o.InsecureRegistry {
		pr.Spec.Params = append(pr.Spec.Params, str("insecure-registry", "true"))
	}
	for _, p := range []struct{ name, v string }{
		{"languages", o.Languages}, {"goproxy", o.GoProxy}, {"npm-registry", o.NpmRegistry},
		{"pip-index-url", o.PipIndexURL}, {"maven-settings", o.MavenSettings},
	} {
		if p.v != "" {
			pr.Spec.Params = append(pr.Spec.Params, str(p.name, p.v))
		}
	}
	if !o.Policy.Empty() {
		// Teams do not exist yet: the team seam is policy.File.For's first
		// argument, "" until runs carry a team.
		doc, err := policy.Document(o.Policy.For("", app))
		if err != nil {
			return nil, err
		}
		pr.Spec.Params = append(pr.Spec.Params, str("policy", doc))
	}
	if o.AdvisoriesConfigMap != "" {
		pr.Spec.Workspaces = append(pr.Spec.Workspaces, pipelinev1.WorkspaceBinding{
			Name:      "advisories",
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: o.AdvisoriesConfigMap}},
		})
	}
	if o.MavenOffline {
		pr.Spec.Params = append(pr.Spec.Params, str("maven-offline", "true"))
	}
	if o.TestMemoryLimit != "" {
		q, err := resource.ParseQuantity(o.TestMemoryLimit)
		if err != nil {
			return nil, fmt.Errorf("run options: test memory limit %q: %w", o.TestMemoryLimit, err)
		}
		pr.Spec.TaskRunSpecs = append(pr.Spec.TaskRunSpecs, pipelinev1.PipelineTaskRunSpec{
			PipelineTaskName: "unit-test",
			StepSpecs: []pipelinev1.TaskRunStepSpec{{
				Name:             "test",
				ComputeResources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q}},
			}},
		})
	}
	if o.FSGroup > 0 {
		g := o.FSGroup
		pr.Spec.TaskRunTemplate.PodTemplate = &pod.Template{SecurityContext: &corev1.PodSecurityContext{FSGroup: &g}}
	}
	if o.Timeout > 0 {
		pr.Spec.Timeouts = &pipelinev1.TimeoutFields{Pipeline: &metav1.Duration{Duration: o.Timeout}}
	}
	if err := withStepsAndServices(pr, a.rc, o); err != nil {
		return nil, err
	}
	if err := ValidatePipelineRun(context.Background(), pr); err != nil {
		return nil, err
	}
	return pr, nil
}

func checkEvent(ev *event.Event) error {
	if ev == nil {
		return fmt.Errorf("nil event")
	}
	switch ev.Kind {
	case event.Push, event.Tag, event.MergeRequest:
	default:
		return fmt.Errorf("event kind %q: want push, tag or merge_request", ev.Kind)
	}
	if !isHexSHA(ev.SHA) || event.IsDeletion(ev.SHA) {
		return fmt.Errorf("event sha %q is not a full commit SHA", ev.SHA)
	}
	if ev.CloneURL == "" || ev.Repo == "" || ev.Delivery == "" || ev.Ref == "" {
		return fmt.Errorf("event %d: clone URL, repo, ref and delivery are required", ev.ID)
	}
	if ev.Kind == event.MergeRequest && ev.MRNumber <= 0 {
		return fmt.Errorf("merge request event without a merge request number")
	}
	return nil
}

func isHexSHA(s string) bool {
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

// shaLabel fits a SHA-256 commit id into a label value (63 characters max).
func shaLabel(sha string) string {
	if len(sha) > 63 {
		return sha[:63]
	}
	return sha
}

// FetchRef is the ref the clone task fetches when the host refuses a fetch
// by SHA. A merge request's commits may live in a fork, so its host-side
// ref is used rather than the source branch.
func FetchRef(ev *event.Event) string {
	if ev.Kind != event.MergeRequest {
		return ev.Ref
	}
	if ev.Provider == event.GitLab {
		return fmt.Sprintf("refs/merge-requests/%d/head", ev.MRNumber)
	}
	return fmt.Sprintf("refs/pull/%d/head", ev.MRNumber)
}

// RunName is "<app>-<short sha>-<8 hex of sha256(provider/delivery)>": a
// redelivery of the same webhook gets the same name.
func RunName(app string, ev *event.Event) string {
	h := sha256.Sum256([]byte(string(ev.Provider) + "/" + ev.Delivery))
	return app + "-" + strings.ToLower(ev.ShortSHA()) + "-" + hex.EncodeToString(h[:4])
}

// RepoHash is the value of LabelRepoHash for a repository.
func RepoHash(p event.Provider, repo string) string {
	return shortHash(string(p) + "/" + repo)
}

// BranchHash is the value of LabelBranchHash for a branch.
func BranchHash(branch string) string {
	return shortHash(branch)
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// maxApp keeps "<app>-<8>-<8>" within the 63 characters of a DNS label.
const maxApp = 40

// AppName derives an app name from a repository path: its last element,
// lowercased, with runs of other characters turned into one '-'.
func AppName(repo string) string {
	if i := strings.LastIndex(repo, "/"); i >= 0 {
		repo = repo[i+1:]
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(repo) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := b.String()
	if len(s) > maxApp {
		s = s[:maxApp]
	}
	s = strings.TrimRight(s, "-")
	if s == "" {
		return "app"
	}
	return s
}

// StatusContext is the commit status context of pr's result: base (the
// server's, "slipway/ci") for a repository's single app, base/<app> for
// one app of a monorepo, so each app reports on its own line.
func StatusContext(base string, pr *pipelinev1.PipelineRun) string {
	if pr != nil && pr.Annotations[AnnotationMonorepo] == "true" && pr.Labels[LabelApp] != "" {
		return AppStatusContext(base, pr.Labels[LabelApp])
	}
	return base
}

// AppStatusContext is the status context of app of a monorepo.
func AppStatusContext(base, app string) string { return base + "/" + app }
