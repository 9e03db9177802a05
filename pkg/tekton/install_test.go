package tekton

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	k8stesting "k8s.io/client-go/testing"
)

// applyClientset is Tekton's fake clientset backed by client-go's
// field-managed tracker, which implements server-side apply (create on
// first apply, field ownership); the plain tracker cannot apply to a
// missing object.
func applyClientset(t *testing.T) *fake.Clientset {
	t.Helper()
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	if err := fake.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	tracker := k8stesting.NewFieldManagedObjectTracker(s, serializer.NewCodecFactory(s).UniversalDecoder(), managedfields.NewDeducedTypeConverter())
	cs := fake.NewSimpleClientset()
	cs.ReactionChain = nil
	cs.AddReactor("*", "*", k8stesting.ObjectReaction(tracker))
	return cs
}

func TestInstall(t *testing.T) {
	ctx := context.Background()
	cs := applyClientset(t)
	if err := Install(ctx, cs, "ci"); err != nil {
		t.Fatal(err)
	}

	// Every apply is a forced server-side apply by "slipway".
	var applied []string
	for _, a := range cs.Actions() {
		p, ok := a.(k8stesting.PatchActionImpl)
		if !ok {
			t.Fatalf("unexpected action %s", a)
		}
		if p.GetPatchType() != types.ApplyPatchType || p.PatchOptions.FieldManager != FieldManager ||
			p.PatchOptions.Force == nil || !*p.PatchOptions.Force {
			t.Errorf("%s %s: patch type %s, options %+v; want forced apply by %q", p.GetResource().Resource, p.GetName(), p.GetPatchType(), p.PatchOptions, FieldManager)
		}
		applied = append(applied, p.GetResource().Resource+"/"+p.GetNamespace()+"/"+p.GetName())
	}
	b, err := Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Tasks first: Pipelines refer to them.
	var want []string
	for _, x := range b.Tasks {
		want = append(want, "tasks/ci/"+x.Name)
	}
	for _, x := range b.Pipelines {
		want = append(want, "pipelines/ci/"+x.Name)
	}
	if diff := cmp.Diff(want, applied); diff != "" {
		t.Errorf("applied (-want +got)\n%s", diff)
	}
	clone := b.Task("slipway-git-clone")
	task, err := cs.TektonV1().Tasks("ci").Get(ctx, "slipway-git-clone", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(clone.Spec, task.Spec); diff != "" {
		t.Errorf("installed task spec (-want +got)\n%s", diff)
	}

	// An upgrade re-applies over whatever an older version (or a human) left.
	task.Spec.Description = "edited by hand"
	task.Spec.Steps[0].Script = "echo old"
	if _, err := cs.TektonV1().Tasks("ci").Update(ctx, task, metav1.UpdateOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}
	if err := Install(ctx, cs, "ci"); err != nil {
		t.Fatal(err)
	}
	task, err = cs.TektonV1().Tasks("ci").Get(ctx, "slipway-git-clone", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(clone.Spec, task.Spec); diff != "" {
		t.Errorf("task after re-install (-want +got)\n%s", diff)
	}
	p, err := cs.TektonV1().Pipelines("ci").Get(ctx, CIPipeline, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b.Pipeline(CIPipeline).Spec, p.Spec); diff != "" {
		t.Errorf("installed pipeline spec (-want +got)\n%s", diff)
	}
}

func TestInstallNeedsNamespace(t *testing.T) {
	if err := Install(context.Background(), applyClientset(t), ""); err == nil {
		t.Fatal("want an error for an empty namespace")
	}
}

// The builds namespace gets the CI pipeline and its Tasks, the deploy
// namespace the deploy pipeline and its Task: nothing of one in the
// other, and nothing embedded left out of both.
func TestBundleOnly(t *testing.T) {
	b, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := func(o *Bundle) []string {
		var out []string
		for _, x := range o.Tasks {
			out = append(out, "task/"+x.Name)
		}
		for _, x := range o.Pipelines {
			out = append(out, "pipeline/"+x.Name)
		}
		return out
	}
	ci, err := b.Only(CIPipeline)
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := b.Only(DeployPipeline)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"task/slipway-build-push", "task/slipway-generate-dockerfile", "task/slipway-git-clone",
		"task/slipway-policy", "task/slipway-unit-test", "pipeline/" + CIPipeline}
	if diff := cmp.Diff(want, names(ci)); diff != "" {
		t.Errorf("CI bundle (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"task/slipway-deploy", "pipeline/" + DeployPipeline}, names(deploy)); diff != "" {
		t.Errorf("deploy bundle (-want +got)\n%s", diff)
	}
	if got, all := len(ci.Tasks)+len(deploy.Tasks), len(b.Tasks); got != all {
		t.Errorf("the two bundles hold %d Tasks, the embedded bundle %d: a Task no pipeline uses is never installed", got, all)
	}
	if _, err := b.Only("slipway-nope"); err == nil || !strings.Contains(err.Error(), `no Pipeline "slipway-nope"`) {
		t.Errorf("Only(unknown) = %v, want it named", err)
	}
	broken := &Bundle{Pipelines: []*pipelinev1.Pipeline{{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: pipelinev1.PipelineSpec{Tasks: []pipelinev1.PipelineTask{{Name: "x", TaskRef: &pipelinev1.TaskRef{Name: "missing"}}}}}}}
	if _, err := broken.Only("p"); err == nil || !strings.Contains(err.Error(), `Task "missing"`) {
		t.Errorf("Only(a Pipeline missing its Task) = %v, want the Task named", err)
	}

	ctx := context.Background()
	cs := applyClientset(t)
	if err := deploy.Install(ctx, cs, "slipway"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.TektonV1().Pipelines("slipway").Get(ctx, DeployPipeline, metav1.GetOptions{}); err != nil {
		t.Errorf("deploy Pipeline not installed: %v", err)
	}
	if _, err := cs.TektonV1().Tasks("slipway").Get(ctx, "slipway-build-push", metav1.GetOptions{}); err == nil {
		t.Error("a CI Task was installed into the deploy namespace")
	}
}
