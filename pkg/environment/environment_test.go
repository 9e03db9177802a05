package environment

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func int32p(v int32) *int32 { return &v }

func TestExample(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(example.yaml): %v", err)
	}
	if c.First().Name != "qa" || c.Index("prod") != 1 || c.Index("staging") != -1 {
		t.Errorf("order: first %s, prod at %d", c.First().Name, c.Index("prod"))
	}
	got, err := c.Target("shop", "prod")
	if err != nil {
		t.Fatal(err)
	}
	want := Target{
		App: "shop", Env: "prod", Namespace: "shop", Deployment: "shop-web",
		Repository: "10.244.0.1:5000/prod/shop", Insecure: true, Approval: true,
		Clusters: []Cluster{{Name: "dc-east", KubeconfigSecret: "prod-dc-east-kubeconfig"}, {Name: "dc-west", KubeconfigSecret: "prod-dc-west-kubeconfig"}},
		Rollout: Rollout{
			Strategy: "bluegreen", Steps: []int{10, 50, 100}, Pause: "manual", SmokeURL: "http://{preview}/healthz",
			ScaleDownDelay: "5m", ProgressDeadline: "10m", MaxRestarts: int32p(1),
			PrometheusURL: "http://prometheus.monitoring.svc:9090",
			Analysis:      []string{`error-rate=sum(rate(http_requests_total{code=~"5.."}[1m]))/sum(rate(http_requests_total[1m]))<=0.01 failureLimit=1 inconclusiveLimit=2`},
			HTTPRoute:     "apps-prod/shop",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Target(shop, prod) (-want +got):\n%s", diff)
	}
	b, _ := c.App("billing")
	if b.Image != "billing" || b.Branch != "release" {
		t.Errorf("billing defaults: image %q branch %q", b.Image, b.Branch)
	}
	qa, err := c.Target("billing", "qa")
	if err != nil {
		t.Fatal(err)
	}
	if qa.Namespace != "apps-qa" || qa.Deployment != "billing" || qa.Rollout.Strategy != "rolling" || !qa.Clusters[0].InCluster() {
		t.Errorf("Target(billing, qa) = %+v", qa)
	}
	if a, ok := c.AppForRepo("acme/billing"); !ok || a.Name != "billing" {
		t.Errorf("AppForRepo(acme/billing) = %v, %v", a, ok)
	}
	if _, err := c.Target("nope", "qa"); err == nil || !strings.Contains(err.Error(), `unknown app "nope"`) {
		t.Errorf("Target(nope) = %v", err)
	}
}

const base = `
environments:
  - name: qa
    namespace: qa
    registry: reg/qa
    clusters: [{name: local}]
  - name: prod
    namespace: prod
    registry: reg/prod
    approval: true
    clusters: [{name: east}]
apps:
  - name: web
    repo: acme/web
    cloneURL: https://git.example/acme/web.git
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error; nil = valid
	}{
		{name: "valid", yaml: base},
		{name: "approval on the first environment is fine", yaml: strings.Replace(base, "clusters: [{name: local}]", "approval: true\n    clusters: [{name: local}]", 1)},
		{name: "unknown key", yaml: base + "    colour: blue\n", want: []string{`unknown field "colour"`}},
		{name: "policy recheck", yaml: strings.Replace(base, "approval: true", "approval: true\n    policy: {recheck: true}", 1)},
		{name: "unknown policy key", yaml: strings.Replace(base, "approval: true", "approval: true\n    policy: {recheck: true, maxSeverity: high}", 1),
			want: []string{`unknown field "maxSeverity"`}},
		{name: "no environments", yaml: "apps: []\n", want: []string{"environments: at least one environment is required"}},
		{name: "unknown env in app", yaml: base + "    environments:\n      staging: {deployment: web}\n",
			want: []string{`apps[0] (web).environments.staging: unknown environment "staging"`}},
		{name: "duplicate env", yaml: strings.Replace(base, "name: prod", "name: qa", 1),
			want: []string{`environments[1].name: duplicate environment "qa"`}},
		{name: "duplicate cluster", yaml: strings.Replace(base, "[{name: east}]", "[{name: east}, {name: east}]", 1),
			want: []string{`environments[1] (prod).clusters[1].name: duplicate cluster "east"`}},
		{name: "no cluster", yaml: strings.Replace(base, "clusters: [{name: east}]", "clusters: []", 1),
			want: []string{"environments[1] (prod).clusters: at least one cluster is required"}},
		{name: "duplicate app and repo", yaml: base + "  - name: web\n    repo: acme/web\n    cloneURL: https://x/y.git\n",
			want: []string{`apps[1].name: duplicate app "web"`, `apps[1] (web).repo: "acme/web" is already the repo of app "web"`}},
		{name: "bad durations", yaml: strings.Replace(base, "approval: true", "approval: true\n    rollout: {pause: soon, progressDeadline: 10, scaleDownDelay: -1s}", 1),
			want: []string{`environments[1] (prod).rollout: pause "soon"`, `progressDeadline "10"`, `scaleDownDelay "-1s": must not be negative`}},
		{name: "steps not ascending", yaml: strings.Replace(base, "approval: true", "approval: true\n    rollout: {strategy: canary, steps: [50, 10]}", 1),
			want: []string{"steps [50 10]: each must be in 1..100 and greater than the one before"}},
		{name: "steps over 100", yaml: strings.Replace(base, "approval: true", "approval: true\n    rollout: {steps: [10, 150]}", 1),
			want: []string{"steps [10 150]"}},
		{name: "bad strategy in override", yaml: base + "    environments:\n      prod: {rollout: {strategy: yolo}}\n",
			want: []string{`apps[0] (web).environments.prod.rollout: strategy "yolo"`}},
		{name: "analysis without prometheus", yaml: strings.Replace(base, "approval: true", "approval: true\n    rollout: {analysis: [\"err=rate(x[1m])<=0.1\", \"broken\"]}", 1),
			want: []string{`analysis "broken": want NAME=PROMQL<=MAX`, "analysis needs prometheusURL"}},
		{name: "analysis limits", yaml: strings.Replace(base, "approval: true", "approval: true\n    rollout: {prometheusURL: \"http://p:9090\", analysis: [\"err=x<=0.1 failureLimit=-1\", \"up=y>=1 retries=3\"]}", 1),
			want: []string{"failureLimit must be a whole number from 0 to 1000", `unknown option "retries=3"`}},
		{name: "both traffic routers", yaml: strings.Replace(base, "approval: true", "approval: true\n    rollout: {httpRoute: r, nginxIngress: i}", 1),
			want: []string{"httpRoute and nginxIngress are exclusive"}},
		{name: "bad app fields", yaml: strings.NewReplacer("repo: acme/web", "repo: https://git.example/web", "cloneURL: https://git.example/acme/web.git", "cloneURL: acme/web").Replace(base) + "    image: Web:1\n",
			want: []string{`apps[0] (web).repo: "https://git.example/web"`, `apps[0] (web).cloneURL: "acme/web"`, `apps[0] (web).image: "Web:1"`}},
		{name: "bad names", yaml: strings.Replace(base, "name: qa", "name: QA_1", 1),
			want: []string{`environments[0].name: "QA_1" must be a lowercase DNS label`}},
		{name: "registry with digest", yaml: strings.Replace(base, "registry: reg/prod", "registry: reg/prod@sha256:abc", 1),
			want: []string{`environments[1] (prod).registry`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestMergeKeepsUnsetFields(t *testing.T) {
	env := Rollout{Strategy: "canary", Steps: []int{25, 100}, Pause: "1m", MaxRestarts: int32p(2)}
	got := env.merge(Rollout{Pause: "manual", MaxRestarts: int32p(0)})
	want := Rollout{Strategy: "canary", Steps: []int{25, 100}, Pause: "manual", MaxRestarts: int32p(0)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merge (-want +got):\n%s", diff)
	}
}

func TestPolicyRecheckParsed(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(base, "approval: true", "approval: true\n    policy: {recheck: true}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"qa": false, "prod": true} {
		e, ok := c.Env(name)
		if !ok || e.Policy.Recheck != want {
			t.Errorf("%s: recheck = %v, want %v", name, e.Policy.Recheck, want)
		}
	}
}

// Retiring apps removed from the config is off unless the config says so.
func TestRetireRemovedAppsParsed(t *testing.T) {
	for _, tt := range []struct {
		extra string
		want  bool
	}{{"", false}, {"retireRemovedApps: false\n", false}, {"retireRemovedApps: true\n", true}} {
		c, err := Parse([]byte(tt.extra + base))
		if err != nil {
			t.Fatalf("%q: %v", tt.extra, err)
		}
		if c.RetireRemovedApps != tt.want {
			t.Errorf("%q: RetireRemovedApps = %v, want %v", tt.extra, c.RetireRemovedApps, tt.want)
		}
	}
	if _, err := Parse([]byte("retireRemovedApps: yes please\n" + base)); err == nil {
		t.Error("a retireRemovedApps that is no boolean was accepted")
	}
}
