package failure

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

func failedPR(reason, msg string) *pipelinev1.PipelineRun {
	pr := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Name: "python-pip-9d5e26a4-807f5bf6"}}
	pr.Status.Conditions = duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionFalse, Reason: reason, Message: msg}}
	return pr
}

func failedTR(reason, msg string, steps ...pipelinev1.StepState) *pipelinev1.TaskRun {
	tr := &pipelinev1.TaskRun{ObjectMeta: metav1.ObjectMeta{Name: "python-pip-9d5e26a4-807f5bf6-unit-test"}}
	tr.Status.Conditions = duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionFalse, Reason: reason, Message: msg}}
	tr.Status.Steps = steps
	return tr
}

func podWith(step, image, memLimit string) *corev1.Pod {
	c := corev1.Container{Name: "step-" + step, Image: image}
	if memLimit != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memLimit)}
	}
	return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
}

func logs(lines ...string) LogTail {
	return func(context.Context, *pipelinev1.TaskRun, string) []string { return lines }
}

// The messages below are the exact formats of Tekton v1.15
// (pkg/reconciler/taskrun/taskrun.go checkContainerFailure,
// pkg/pod/status.go extractContainerFailureMessage and getFailureMessage,
// TaskRun/PipelineRun timeouts) and of the kubelet's waiting messages.
func TestExplain(t *testing.T) {
	const pullBackOff = `Back-off pulling image "127.0.0.1:5000/base/python:3.12": ErrImagePull: failed to pull and unpack image "127.0.0.1:5000/base/python:3.12": failed to resolve reference "127.0.0.1:5000/base/python:3.12": 127.0.0.1:5000/base/python:3.12: not found`
	tests := []struct {
		name string
		in   Input
		want Explanation // Detail and Fix are checked by wantDetail
		// wantDetail are substrings of Full().
		wantDetail []string
	}{
		{
			name: "image pull, not found, Tekton's empty image id (the issue)",
			in: Input{Task: "unit-test",
				PipelineRun: failedPR("Failed", `Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1`),
				TaskRun: failedTR(string(pipelinev1.TaskRunReasonImagePullFailed),
					`the step "test" in TaskRun "python-pip-9d5e26a4-807f5bf6-unit-test" failed to pull the image "". The pod errored with the message: "`+pullBackOff+`."`,
					pipelinev1.StepState{Name: "test", ContainerState: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: pullBackOff}}})},
			want:       Explanation{Task: "unit-test", Step: "test", Cause: CauseImageNotFound, Short: "unit-test (step test): image 127.0.0.1:5000/base/python:3.12 not found"},
			wantDetail: []string{"the image 127.0.0.1:5000/base/python:3.12 does not exist", "build.version in .slipway.yaml", "slipway render --check"},
		},
		{
			name: "image pull, image only in the pod spec",
			in: Input{Task: "unit-test", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR(string(pipelinev1.TaskRunReasonImagePullFailed),
					`the step "test" in TaskRun "x-unit-test" failed to pull the image "". The pod errored with the message: "manifest unknown."`),
				Pod: podWith("test", "registry.corp/base/node:20", "")},
			want: Explanation{Task: "unit-test", Step: "test", Cause: CauseImageNotFound, Short: "unit-test (step test): image registry.corp/base/node:20 not found"},
		},
		{
			name: "image pull, unauthorized",
			in: Input{Task: "build-push", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR(string(pipelinev1.TaskRunReasonImagePullFailed),
					`the step "build-push" in TaskRun "x-build-push" failed to pull the image "". The pod errored with the message: "Back-off pulling image "ghcr.io/acme/tools:1": ErrImagePull: failed to pull and unpack image "ghcr.io/acme/tools:1": failed to resolve reference "ghcr.io/acme/tools:1": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token: 401 Unauthorized."`)},
			want:       Explanation{Task: "build-push", Step: "build-push", Cause: CauseImageUnauthorized, Short: "build-push: image ghcr.io/acme/tools:1: registry refused access"},
			wantDetail: []string{"imagePullSecret"},
		},
		{
			name: "out of memory in the unit tests, limit from the pod",
			in: Input{Task: "unit-test", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR(string(pipelinev1.TaskRunReasonStepOOM), `"step-test" exited with code 137: OOMKilled`,
					pipelinev1.StepState{Name: "test", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}),
				Pod: podWith("test", "base/python:3.11", "256Mi")},
			want:       Explanation{Task: "unit-test", Step: "test", Cause: CauseOutOfMemory, Short: "unit-test (step test): out of memory (limit 256Mi)"},
			wantDetail: []string{"ran out of memory", "Its memory limit is 256Mi", "LimitRange"},
		},
		{
			name: "out of memory, older message without the reason",
			in: Input{Task: "unit-test", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR("Failed", `"step-test" exited with code 137: OOMKilled`)},
			want: Explanation{Task: "unit-test", Step: "test", Cause: CauseOutOfMemory, Short: "unit-test (step test): out of memory"},
		},
		{
			name: "task timeout",
			in: Input{Task: "unit-test", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR(string(pipelinev1.TaskRunReasonTimedOut), `TaskRun "x-unit-test" failed to finish within "10m0s"`)},
			want:       Explanation{Task: "unit-test", Cause: CauseTimeout, Short: "unit-test: timed out after 10m0s (the task's timeout)"},
			wantDetail: []string{"pipeline-timeout"},
		},
		{
			name: "pipeline timeout",
			in: Input{Task: "build-push",
				PipelineRun: failedPR(string(pipelinev1.PipelineRunReasonTimedOut), `PipelineRun "web-0123abc-1a2b3c4d" failed to finish within "1h0m0s"`)},
			want: Explanation{Task: "build-push", Cause: CauseTimeout, Short: "build-push: timed out after 1h0m0s (the pipeline timeout)"},
		},
		{
			name: "pipeline timeout, the TaskRun only cancelled",
			in: Input{Task: "unit-test",
				PipelineRun: failedPR(string(pipelinev1.PipelineRunReasonTimedOut), `PipelineRun "web-0123abc-1a2b3c4d" failed to finish within "1h0m0s"`),
				TaskRun:     failedTR(string(pipelinev1.TaskRunReasonCancelled), string(pipelinev1.TaskRunCancelledByPipelineTimeoutMsg))},
			want: Explanation{Task: "unit-test", Cause: CauseTimeout, Short: "unit-test: timed out after 1h0m0s (the pipeline timeout)"},
		},
		{
			name: "pipeline tasks timeout",
			in:   Input{PipelineRun: failedPR(string(pipelinev1.PipelineRunReasonTimedOut), `PipelineRun "web-0123abc-1a2b3c4d" failed due to tasks failed to finish within "30m0s"`)},
			want: Explanation{Cause: CauseTimeout, Short: "timed out after 30m0s (the pipeline's tasks timeout)"},
		},
		{
			name: "step timeout",
			in: Input{Task: "unit-test", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR("Failed", `"step-test" exited because the step exceeded the specified timeout limit`)},
			want: Explanation{Task: "unit-test", Step: "test", Cause: CauseTimeout, Short: "unit-test (step test): timed out (the step's timeout)"},
		},
		{
			name: "eviction for node pressure",
			in: Input{Task: "build-push", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR(string(pipelinev1.TaskRunReasonPodEvicted), `The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 524Mi. Container step-build-push was using 2Gi, request is 0, has larger consumption of ephemeral-storage. `)},
			want:       Explanation{Task: "build-push", Cause: CauseEvicted, Short: "build-push: pod evicted: node low on ephemeral-storage"},
			wantDetail: []string{"Container step-build-push was using 2Gi"},
		},
		{
			name: "eviction for the pod's storage limit, from the pod",
			in: Input{Task: "unit-test", PipelineRun: failedPR("Failed", ""), TaskRun: failedTR("Failed", "build failed for unspecified reasons."),
				Pod: &corev1.Pod{Status: corev1.PodStatus{Reason: "Evicted", Message: "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. "}}},
			want: Explanation{Task: "unit-test", Cause: CauseEvicted, Short: "unit-test: pod evicted: ephemeral storage limit exceeded"},
		},
		{
			name: "unbound workspace volume, then the timeout",
			in: Input{Task: "clone", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR(string(pipelinev1.TaskRunReasonTimedOut), `TaskRun "x-clone" failed to finish within "1h0m0s"`),
				Pod: &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
					Message: "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."}}}}},
			want:       Explanation{Task: "clone", Cause: CauseVolume, Short: "clone: workspace volume never bound (check the storage class)"},
			wantDetail: []string{"storage-class"},
		},
		{
			name: "unit tests fail: the last meaningful log lines",
			in: Input{Task: "unit-test", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR("Failed", `"step-test" exited with code 1`),
				Logs:    logs("+ go test ./...", "--- FAIL: TestAdd (0.00s)", "    add_test.go:9: got 3, want 4", "FAIL", "FAIL\texample.com/calc\t0.002s", "")},
			want:       Explanation{Task: "unit-test", Step: "test", Cause: CauseExit, Short: "unit-test (step test): exited with code 1: --- FAIL: TestAdd (0.00s)"},
			wantDetail: []string{"--- FAIL: TestAdd", "--print-test-command"},
		},
		{
			name: "the Maven build of the issue: exit code with Tekton's reason",
			in: Input{Task: "build-push", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR("Failed", `"step-build-push" exited with code 1: Error`),
				Logs:    logs("#12 4.1 [ERROR] No plugin found for prefix 'dependency' in the current project and in the plugin groups [org.apache.maven.plugins, org.codehaus.mojo] available from the repositories [local (/usr/share/maven-repo)] -> [Help 1]", "error: failed to solve: process \"/bin/sh -c mvn -B -s /slipway/settings.xml dependency:go-offline\" did not complete successfully: exit code: 1")},
			want: Explanation{Task: "build-push", Step: "build-push", Cause: CauseExit,
				Short: "build-push: exited with code 1: [ERROR] No plugin found for prefix 'dependency' in the current project and in the plugin groups [org.apache…"},
			wantDetail: []string{"No plugin found for prefix 'dependency'"},
		},
		{
			name: "Dockerfile step: a version the platform does not offer",
			in: Input{Task: "generate-dockerfile", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR("Failed", `"step-render" exited with code 1`),
				Logs: logs(`slipway: node: the repository asks for Node.js >=20 (package.json engines.node), which this platform does not offer; offered: 18 (default 18). ` +
					`Pin an offered version: build.version in .slipway.yaml (e.g. version: "18"), or engines.node in package.json`)},
			want: Explanation{Task: "generate-dockerfile", Step: "render", Cause: CauseVersion,
				Short: "generate-dockerfile (step render): node Node.js >=20 (package.json engines.node) not offered; offered: 18"},
			wantDetail: []string{"node: the repository asks for Node.js >=20", `e.g. version: "18"`},
		},
		{
			name: "Dockerfile step: an offered version without its base image",
			in: Input{Task: "generate-dockerfile", PipelineRun: failedPR("Failed", ""),
				TaskRun: failedTR("Failed", `"step-render" exited with code 1`),
				Logs: logs(`slipway: python 3.12: the unit tests and the image build need base images this platform's registry does not have: ` +
					`image 127.0.0.1:5000/base/python:3.12 does not exist; the repository has: 3.11 (fix the languages configuration or the base registry)`)},
			want: Explanation{Task: "generate-dockerfile", Step: "render", Cause: CauseBaseImageMissing,
				Short: "generate-dockerfile (step render): base image 127.0.0.1:5000/base/python:3.12 missing (has 3.11)"},
		},
		{
			name: "unknown: Tekton's message as is",
			in:   Input{PipelineRun: failedPR("CouldntGetPipeline", `Error retrieving pipeline for pipelinerun x: pipelines.tekton.dev "slipway-ci" not found`)},
			want: Explanation{Cause: CauseUnknown, Short: `Error retrieving pipeline for pipelinerun x: pipelines.tekton.dev "slipway-ci" not found`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Explain(context.Background(), tt.in)
			if diff := cmp.Diff(tt.want, Explanation{Task: got.Task, Step: got.Step, Cause: got.Cause, Short: got.Short}); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if n := len([]rune(got.Short)); n > MaxShort {
				t.Errorf("Short has %d characters, more than %d", n, MaxShort)
			}
			for _, w := range tt.wantDetail {
				if !strings.Contains(got.Full(), w) {
					t.Errorf("Full() lacks %q:\n%s", w, got.Full())
				}
			}
		})
	}
}

func TestPipelineTimeoutFromSpec(t *testing.T) {
	pr := failedPR(string(pipelinev1.PipelineRunReasonTimedOut), "")
	pr.Spec.Timeouts = &pipelinev1.TimeoutFields{Pipeline: &metav1.Duration{Duration: 45 * time.Minute}}
	got := Explain(context.Background(), Input{PipelineRun: pr, Task: "unit-test"})
	if got.Short != "unit-test: timed out after 45m0s (the pipeline timeout)" {
		t.Errorf("Short = %q", got.Short)
	}
}

func FuzzExplain(f *testing.F) {
	f.Add("TaskRunImagePullFailed", `the step "test" in TaskRun "t" failed to pull the image "". The pod errored with the message: "x."`)
	f.Add("Failed", `"step-test" exited with code 1`)
	f.Add("TaskRunTimeout", `TaskRun "t" failed to finish within "1h0m0s"`)
	f.Fuzz(func(t *testing.T, reason, msg string) {
		e := Explain(context.Background(), Input{PipelineRun: failedPR(reason, msg), TaskRun: failedTR(reason, msg), Task: "unit-test",
			Logs: logs(msg)})
		if len([]rune(e.Short)) > MaxShort {
			t.Fatalf("Short too long: %q", e.Short)
		}
	})
}

func TestPodLogs(t *testing.T) {
	kc := fake.NewClientset()
	tr := &pipelinev1.TaskRun{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "t"}}
	if got := PodLogs(kc, 10)(context.Background(), tr, "test"); got != nil {
		t.Errorf("no pod name: got %q, want nil", got)
	}
	tr.Status.PodName = "t-pod"
	// The fake clientset answers every log request with "fake logs".
	if diff := cmp.Diff([]string{"fake logs"}, PodLogs(kc, 10)(context.Background(), tr, "test")); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
