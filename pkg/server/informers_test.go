package server

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/slipway-ci/slipway/pkg/tekton"
)

// The builds namespace's factory holds CI runs (reporter, collector,
// notifications, UI), the deploy namespace's deploy runs of every mode
// (the promotion service), and neither anything else.
func TestInformerSelectorsSplitCIAndDeployRuns(t *testing.T) {
	deploy := func(o tekton.DeployRunOptions) map[string]string {
		o.Namespace, o.SlipwayImage, o.App, o.Env, o.Cluster = "slipway", "reg/slipway:dev", "shop", "qa", "local"
		o.TargetNamespace, o.Deployment = "apps-qa", "shop"
		if o.Mode == "orphans" {
			o.App, o.Deployment = "", ""
		}
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
		"orphans":        deploy(tekton.DeployRunOptions{Name: "orphans-qa-local-1", Mode: "orphans"}),
		"someone else's": {"team": "x"},
	}
	got := map[string][]string{}
	for _, pipeline := range []string{tekton.KindCI, tekton.KindDeploy} {
		sel, err := labels.Parse(informerSelector(pipeline))
		if err != nil {
			t.Fatal(err)
		}
		for name, l := range runs {
			if sel.Matches(labels.Set(l)) {
				got[name] = append(got[name], pipeline)
			}
		}
	}
	want := map[string][]string{"ci": {"ci"}, "rollout": {"deploy"}, "remove-canary": {"deploy"}, "delete-app": {"deploy"}, "orphans": {"deploy"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("selected by (-want +got):\n%s", diff)
	}
}
