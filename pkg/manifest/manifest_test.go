package manifest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"

// summary is what a test compares of a rendered object.
type summary struct {
	Kind, Name, Namespace string
	Labels                map[string]string
	Replicas              int64
	Images                []string
	TemplateLabels        map[string]string
}

func summarize(t *testing.T, objs []*unstructured.Unstructured) []summary {
	t.Helper()
	var out []summary
	for _, u := range objs {
		s := summary{Kind: u.GetKind(), Name: u.GetName(), Namespace: u.GetNamespace(), Labels: u.GetLabels()}
		if u.GetKind() == "Deployment" {
			s.Replicas, _, _ = unstructured.NestedInt64(u.Object, "spec", "replicas")
			s.TemplateLabels, _, _ = unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
			cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			for _, c := range cs {
				s.Images = append(s.Images, c.(map[string]any)["image"].(string))
			}
		}
		out = append(out, s)
	}
	return out
}

func TestRender(t *testing.T) {
	image := "10.0.0.1:5000/apps/hello@" + digest
	labels := func(env string) map[string]string {
		return map[string]string{LabelApp: "hello", LabelEnv: env, LabelManagedBy: "slipway"}
	}
	podLabels := func(env string) map[string]string {
		l := labels(env)
		l["app"] = "hello"
		return l
	}
	dep := func(env string, replicas int64) summary {
		return summary{Kind: "Deployment", Name: "hello", Namespace: env, Labels: labels(env), Replicas: replicas,
			Images: []string{image, "registry.test/tools/proxy:1.0"}, TemplateLabels: podLabels(env)}
	}
	tests := []struct {
		name string
		opts Options
		want []summary
	}{
		{
			name: "no overlay: the base",
			opts: Options{Root: "testdata/app", Path: "deploy", Env: "qa", App: "hello", Namespace: "qa", Image: image},
			want: []summary{
				{Kind: "ConfigMap", Name: "hello-config", Namespace: "qa", Labels: labels("qa")},
				dep("qa", 1),
				{Kind: "Service", Name: "hello", Namespace: "qa", Labels: labels("qa")},
			},
		},
		{
			name: "the environment's overlay",
			opts: Options{Root: "testdata/app", Path: "deploy", Env: "prod", App: "hello", Namespace: "prod", Image: image},
			want: []summary{
				{Kind: "ConfigMap", Name: "hello-config", Namespace: "prod", Labels: labels("prod")},
				{Kind: "ConfigMap", Name: "prod-extra", Namespace: "prod", Labels: labels("prod")},
				dep("prod", 3),
				{Kind: "Service", Name: "hello", Namespace: "prod", Labels: labels("prod")},
			},
		},
		{
			name: "a directory without base or overlays is the base",
			opts: Options{Root: "testdata", Path: "flat", Env: "qa", App: "flat", Namespace: "qa", Image: image},
			want: []summary{{Kind: "ConfigMap", Name: "only", Namespace: "qa", Labels: map[string]string{LabelApp: "flat", LabelEnv: "qa", LabelManagedBy: "slipway"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Render(tt.opts)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if diff := cmp.Diff(tt.want, summarize(t, objs)); diff != "" {
				t.Errorf("rendered (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	image := "10.0.0.1:5000/apps/hello@" + digest
	ok := Options{Root: "testdata/app", Path: "deploy", Env: "qa", App: "hello", Namespace: "qa", Image: image}
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr string
	}{
		{"tag instead of digest", func(o *Options) { o.Image = "10.0.0.1:5000/apps/hello:v1" }, "must be REPO@sha256"},
		{"path leaves the repository", func(o *Options) { o.Path = "../flat" }, "inside the repository"},
		{"absolute path", func(o *Options) { o.Path = "/etc" }, "inside the repository"},
		{"missing directory", func(o *Options) { o.Path = "nothing-here" }, "no such file"},
		{"object in another namespace", func(o *Options) { o.Root, o.Path = "testdata", "elsewhere" }, "is in namespace kube-system"},
		{"no app", func(o *Options) { o.App = "" }, "app, namespace and environment are required"},
		{"broken kustomization", func(o *Options) { o.Root, o.Path = "testdata", "app/deploy/base/deployment.yaml" }, "rendering the manifests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.change(&o)
			_, err := Render(o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Render = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
