package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDeployCmdRefusesBadFlags(t *testing.T) {
	digest := "registry.test/shop@sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"tag", []string{"--image", "registry.test/shop:latest", "-n", "ns", "--app", "shop"}, "must be REPO@sha256"},
		{"strategy", []string{"--strategy", "recreate", "--image", digest, "-n", "ns", "--app", "shop"}, `unknown strategy "recreate"`},
		{"steps", []string{"--strategy", "canary", "--steps", "50,10", "--image", digest, "-n", "ns", "--app", "shop"}, "greater than the one before"},
		{"analysis without prometheus", []string{"--strategy", "canary", "--analysis", "e=up<=1", "--image", digest, "-n", "ns", "--app", "shop"}, "needs --prometheus-url"},
		{"missing app", []string{"--image", digest, "-n", "ns"}, `"app" not set`},
		{"missing image", []string{"-n", "ns", "--app", "shop"}, "--image is required"},
		{"two modes", []string{"--remove-canary", "--delete-app", "-n", "ns", "--app", "shop"}, "none of the others can be"},
		{"mode without app", []string{"--delete-app", "-n", "ns"}, `"app" not set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := NewDeployCmd()
			cmd.SetArgs(tt.args)
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			err := cmd.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("deploy %v = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

// --source renders the manifests its .slipway.yaml names for the
// environment; a repository without them keeps the image-swap mode.
func TestDeployManifestsFromSource(t *testing.T) {
	digest := "registry.test/apps/shop@sha256:" + strings.Repeat("a", 64)
	withManifests := t.TempDir()
	write := func(dir, name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(withManifests, ".slipway.yaml", "manifests: {path: deploy}\n")
	write(withManifests, "deploy/kustomization.yaml", "resources: [deployment.yaml]\n")
	write(withManifests, "deploy/deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec: {containers: [{name: shop, image: shop}]}
`)
	without := t.TempDir()
	write(without, ".slipway.yaml", "app: shop\n")
	tests := []struct {
		name     string
		args     []string
		wantObjs []string
		wantErr  string
	}{
		{"manifests rendered", []string{"--source", withManifests, "--environment", "qa"}, []string{"Deployment/shop " + digest}, ""},
		{"no manifests: image swap", []string{"--source", without, "--environment", "qa"}, nil, ""},
		{"no .slipway.yaml: image swap", []string{"--source", t.TempDir()}, nil, ""},
		{"manifests need the environment", []string{"--source", withManifests}, nil, "--environment is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &deployOptions{strategy: "rolling", pause: "30s", poll: time.Second, steps: []int{100}}
			o.spec.Image, o.spec.Namespace, o.spec.App = digest, "qa", "shop"
			cmd := NewDeployCmd()
			if err := cmd.Flags().Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			o.source, _ = cmd.Flags().GetString("source")
			o.spec.Env, _ = cmd.Flags().GetString("environment")
			err := o.complete()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("complete = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("complete: %v", err)
			}
			var got []string
			for _, u := range o.spec.Manifests {
				cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
				got = append(got, u.GetKind()+"/"+u.GetName()+" "+cs[0].(map[string]any)["image"].(string))
			}
			if diff := cmp.Diff(tt.wantObjs, got); diff != "" {
				t.Errorf("manifests (-want +got):\n%s", diff)
			}
		})
	}
}
