package tekton

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

const deployDigest = "registry.local:5001/prod/web@sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"

func deployOpts() DeployRunOptions {
	return DeployRunOptions{
		Namespace: "slipway-builds", Name: DeployRunName("web", "prod", "eu-1", 17),
		SlipwayImage: "registry.local:5000/slipway/tools:v1",
		App:          "web", Env: "prod", Cluster: "eu-1", PromotionID: 17,
		Image:           deployDigest,
		TargetNamespace: "prod", Deployment: "web",
	}
}

func TestGoldenDeployRun(t *testing.T) {
	tests := []struct {
		name string
		o    func(DeployRunOptions) DeployRunOptions
	}{
		{name: "deploy-rolling"},
		{
			name: "deploy-canary",
			o: func(o DeployRunOptions) DeployRunOptions {
				o.ServiceAccount, o.KubeconfigSecret = "slipway-deployer", "eu-1-kubeconfig"
				o.Strategy, o.Steps, o.Pause = "canary", []int{10, 50, 100}, PauseManual
				o.ProgressDeadline, o.Timeout, o.MaxRestarts = 5*time.Minute, 2*time.Hour, 2
				o.PrometheusURL = "http://prometheus.monitoring:9090"
				o.Analysis = []string{`errors=sum(rate(http_requests_total{code=~"5.."}[1m]))<=0.5`, "p99=histogram_quantile(0.99, rate(x[1m]))<=0.3"}
				o.HTTPRoute, o.NginxIngress = "web", "web"
				return o
			},
		},
		{
			// An app whose manifests come from its repository.
			name: "deploy-manifests",
			o: func(o DeployRunOptions) DeployRunOptions {
				o.SourceURL, o.SourceRevision = "https://github.com/acme/web.git", "0123456789abcdef0123456789abcdef01234567"
				o.GitCredentialsSecret = "git-credentials"
				return o
			},
		},
		{
			// What the promotion worker starts after a killed canary rollout.
			name: "deploy-remove-canary",
			o: func(o DeployRunOptions) DeployRunOptions {
				o.Mode, o.Image, o.KubeconfigSecret, o.NginxIngress = rollout.ModeRemoveCanary, "", "eu-1-kubeconfig", "web"
				o.Name = ModeRunName(rollout.ModeRemoveCanary, "web", "prod", "eu-1", "17")
				return o
			},
		},
		{
			// What deleting an app starts in each cluster of each environment.
			name: "deploy-delete-app",
			o: func(o DeployRunOptions) DeployRunOptions {
				o.Mode, o.Image, o.PromotionID = rollout.ModeDeleteApp, "", 0
				o.Name = ModeRunName(rollout.ModeDeleteApp, "web", "prod", "eu-1", "1767225600")
				return o
			},
		},
		{
			// What `slipway app delete --dry-run` starts: the listing only.
			name: "deploy-delete-app-dry-run",
			o: func(o DeployRunOptions) DeployRunOptions {
				o.Mode, o.Image, o.PromotionID, o.DryRun = rollout.ModeDeleteApp, "", 0, true
				o.Name = ModeRunName(rollout.ModeDeleteApp, "web", "prod", "eu-1", "dry-1767225600")
				return o
			},
		},
		{
			// What the orphan report starts in each cluster and namespace.
			name: "deploy-orphans",
			o: func(o DeployRunOptions) DeployRunOptions {
				o.Mode, o.Image, o.PromotionID, o.App, o.Deployment, o.Claimed = rollout.ModeOrphans, "", 0, "", "", []string{"api", "web"}
				o.Name = ModeRunName(rollout.ModeOrphans, "prod", "prod", "eu-1", "1767225600")
				return o
			},
		},
		{
			name: "deploy-bluegreen",
			o: func(o DeployRunOptions) DeployRunOptions {
				// An explicit 0s is passed, not replaced by the Pipeline's 30s.
				o.Strategy, o.SmokeURL, o.ScaleDownDelay = "bluegreen", "http://web-idle.prod/healthz", new(time.Duration)
				o.Cluster, o.PromotionID = "", 0
				o.Name = DeployRunName("web", "qa", "", 0)
				o.Env = "qa"
				return o
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := deployOpts()
			if tt.o != nil {
				o = tt.o(o)
			}
			pr, err := NewDeployRun(o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(pr)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("PipelineRun (-want +got)\n%s", diff)
			}
		})
	}
}

// Every param a deploy run passes must be one the embedded Pipeline
// declares, with the declared type: Tekton would refuse the run otherwise.
func TestDeployRunMatchesPipeline(t *testing.T) {
	b, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := b.Pipeline(DeployPipeline)
	if p == nil {
		t.Fatalf("no Pipeline %q embedded", DeployPipeline)
	}
	o := deployOpts()
	o.Strategy, o.Steps, o.Pause, o.SmokeURL = "canary", []int{5, 100}, "1m", "http://x/"
	sec := time.Second
	o.ScaleDownDelay, o.ProgressDeadline, o.MaxRestarts = &sec, time.Minute, 1
	o.PrometheusURL, o.Analysis = "http://p", []string{"a=b<=1"}
	o.HTTPRoute, o.NginxIngress, o.KubeconfigSecret = "r", "i", "s"
	o.SourceURL, o.SourceRevision, o.GitCredentialsSecret = "http://git/acme/web.git", strings.Repeat("a", 40), "git"
	pr, err := NewDeployRun(o)
	if err != nil {
		t.Fatal(err)
	}
	// dry-run is a delete-app param: a rollout cannot pass it.
	dry, err := NewDeployRun(DeployRunOptions{Mode: rollout.ModeDeleteApp, DryRun: true, Namespace: "ci", Name: "d",
		SlipwayImage: "s", App: "web", Env: "prod", TargetNamespace: "prod", Deployment: "web"})
	if err != nil {
		t.Fatal(err)
	}
	// claimed is an orphans param.
	orphans, err := NewDeployRun(DeployRunOptions{Mode: rollout.ModeOrphans, Claimed: []string{"web", "api"}, Namespace: "ci", Name: "o",
		SlipwayImage: "s", Env: "prod", TargetNamespace: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	passed := map[string]pipelinev1.Param{}
	for _, prm := range append(append(pr.Spec.Params, dry.Spec.Params...), orphans.Spec.Params...) {
		passed[prm.Name] = prm
	}
	declared := map[string]string{}
	for _, ps := range p.Spec.Params {
		declared[ps.Name] = string(ps.Type)
	}
	for _, prm := range passed {
		typ, ok := declared[prm.Name]
		if !ok {
			t.Errorf("param %q is not declared by the Pipeline", prm.Name)
			continue
		}
		if string(prm.Value.Type) != typ {
			t.Errorf("param %q is %s, the Pipeline declares %s", prm.Name, prm.Value.Type, typ)
		}
	}
	if len(p.Spec.Params) != len(passed) {
		t.Errorf("the runs pass %d params, the Pipeline declares %d: a new Pipeline param is not settable", len(passed), len(p.Spec.Params))
	}
	results := map[string]bool{}
	for _, r := range p.Spec.Results {
		results[r.Name] = true
	}
	if !results["outcome"] || !results["reason"] || !results[rollout.ResultObjects] {
		t.Errorf("Pipeline results %v, want outcome and reason", results)
	}
}

func TestNewDeployRunRejects(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*DeployRunOptions)
		wantErr string
	}{
		{name: "tag", mutate: func(o *DeployRunOptions) { o.Image = "registry.local/web:v1" }, wantErr: "REPO@sha256"},
		{name: "no name", mutate: func(o *DeployRunOptions) { o.Name = "" }, wantErr: "name are required"},
		{name: "no deployment", mutate: func(o *DeployRunOptions) { o.Deployment = "" }, wantErr: "deployment are required"},
		{name: "strategy", mutate: func(o *DeployRunOptions) { o.Strategy = "yolo" }, wantErr: `strategy "yolo"`},
		{name: "pause", mutate: func(o *DeployRunOptions) { o.Pause = "later" }, wantErr: `pause "later"`},
		{name: "analysis without prometheus", mutate: func(o *DeployRunOptions) { o.Analysis = []string{"a=b<=1"} }, wantErr: "Prometheus URL"},
		{name: "bad env label", mutate: func(o *DeployRunOptions) { o.Env = "prod/eu" }, wantErr: `env "prod/eu"`},
		{name: "bad secret", mutate: func(o *DeployRunOptions) { o.KubeconfigSecret = "Not Valid" }, wantErr: `kubeconfig secret "Not Valid"`},
		{name: "mode", mutate: func(o *DeployRunOptions) { o.Mode = "explode" }, wantErr: `mode "explode"`},
		{name: "dry run of a rollout", mutate: func(o *DeployRunOptions) { o.DryRun = true }, wantErr: "dry run is for delete-app only"},
		{name: "claimed apps of a rollout", mutate: func(o *DeployRunOptions) { o.Claimed = []string{"web"} }, wantErr: "claimed apps are for orphans only"},
		{name: "a claimed app no label may carry", mutate: func(o *DeployRunOptions) {
			o.Mode, o.Image, o.Claimed = rollout.ModeOrphans, "", []string{"web,api"}
		}, wantErr: `claimed app "web,api"`},
		{name: "delete with an image", mutate: func(o *DeployRunOptions) { o.Mode = rollout.ModeDeleteApp }, wantErr: "takes no image"},
		{name: "rollout without image", mutate: func(o *DeployRunOptions) { o.Image = "" }, wantErr: "REPO@sha256"},
		{name: "source without commit", mutate: func(o *DeployRunOptions) { o.SourceURL = "http://git/acme/web.git" }, wantErr: "full commit SHA"},
		{name: "source at a branch", mutate: func(o *DeployRunOptions) { o.SourceURL, o.SourceRevision = "http://git/acme/web.git", "main" }, wantErr: "full commit SHA"},
		{name: "delete with a source", mutate: func(o *DeployRunOptions) {
			o.Mode, o.Image, o.SourceURL, o.SourceRevision = rollout.ModeDeleteApp, "", "http://git/acme/web.git", strings.Repeat("a", 40)
		}, wantErr: "takes no source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := deployOpts()
			tt.mutate(&o)
			_, err := NewDeployRun(o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDeployRunName(t *testing.T) {
	long := strings.Repeat("a", 60)
	tests := []struct {
		app, env, cluster string
		id                int64
		want              string
	}{
		{app: "web", env: "prod", cluster: "eu-1", id: 17, want: "deploy-web-prod-eu-1-17-"},
		{app: "web", env: "qa", id: 0, want: "deploy-web-qa-0-"},
		{app: "Web_App", env: "prod", cluster: "DC.2", id: 3, want: "deploy-web-app-prod-dc-2-3-"},
		{app: long, env: "prod", cluster: "eu-1", id: 123456789, want: "deploy-aaaa"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := DeployRunName(tt.app, tt.env, tt.cluster, tt.id)
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("DeployRunName(%q, %q, %q, %d) = %q, want prefix %q", tt.app, tt.env, tt.cluster, tt.id, got, tt.want)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("DeployRunName(%q, …) = %q: %v", tt.app, got, errs)
		}
		if again := DeployRunName(tt.app, tt.env, tt.cluster, tt.id); again != got {
			t.Errorf("not stable: %q then %q", got, again)
		}
		if seen[got] {
			t.Errorf("%q given twice", got)
		}
		seen[got] = true
	}
	// Modes never share a name with a rollout of the same tuple.
	for _, m := range []rollout.Mode{rollout.ModeRemoveCanary, rollout.ModeDeleteApp} {
		got := ModeRunName(m, "web", "prod", "eu-1", "17")
		if !strings.HasPrefix(got, string(m)+"-web-prod-eu-1-17-") || got == DeployRunName("web", "prod", "eu-1", 17) {
			t.Errorf("ModeRunName(%s) = %q", m, got)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("ModeRunName(%s) = %q: %v", m, got, errs)
		}
	}
	// Tuples that differ only after the cut still get different names.
	a, b := DeployRunName(long+"x", "prod", "eu-1", 1), DeployRunName(long+"y", "prod", "eu-1", 1)
	if a == b {
		t.Errorf("two apps share the name %q", a)
	}
}
