package server

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/slipway-ci/slipway/pkg/tekton"
)

// The one factory holds what every consumer reads: CI runs (reporter,
// collector, notifications, UI) and deploy runs of every mode (the
// promotion worker), nothing else.
func TestInformerSelectorSelectsCIAndDeployRuns(t *testing.T) {
	sel, err := labels.Parse(informerSelector)
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(o tekton.DeployRunOptions) map[string]string {
		o.Namespace, o.SlipwayImage, o.App, o.Env, o.Cluster = "slipway-builds", "reg/slipway:dev", "shop", "qa", "local"
		o.TargetNamespace, o.Deployment = "apps-qa", "shop"
		pr, err := tekton.NewDeployRun(o)
		if err != nil {
			t.Fatal(err)
		}
		return pr.Labels
	}
	img := "reg/qa/shop@sha256:" + strings.Repeat("1", 64)
	runs := map[string]map[string]string{
		"ci":             {tekton.LabelManaged: "true", tekton.LabelPipeline: "ci"},
		"rollout":        deploy(tekton.DeployRunOptions{Name: "deploy-shop-qa-local-1", PromotionID: 1, Image: img}),
		"remove-canary":  deploy(tekton.DeployRunOptions{Name: "rc-shop-qa-local-1", Mode: "remove-canary"}),
		"delete-app":     deploy(tekton.DeployRunOptions{Name: "del-shop-qa-local-1", Mode: "delete-app"}),
		"someone else's": {"team": "x"},
	}
	got := map[string]bool{}
	for name, l := range runs {
		got[name] = sel.Matches(labels.Set(l))
	}
	want := map[string]bool{"ci": true, "rollout": true, "remove-canary": true, "delete-app": true, "someone else's": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("selected (-want +got):\n%s", diff)
	}
}
