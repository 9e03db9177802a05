package push

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/slipway-ci/slipway/e2e/fakescm"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func mt(s float64) metav1.Time { return metav1.NewTime(at(s)) }

func mtp(s float64) *metav1.Time { m := mt(s); return &m }

func status(state, desc string, s float64) fakescm.Status {
	return fakescm.Status{Provider: "github", Context: statusContext, State: state, Description: desc, At: at(s)}
}

func taskRunOf(task string, steps []pipelinev1.StepState, done *metav1.Time, succeeded corev1.ConditionStatus) pipelinev1.TaskRun {
	tr := pipelinev1.TaskRun{ObjectMeta: metav1.ObjectMeta{Name: "run-" + task, Labels: map[string]string{labelPipelineRun: "run", labelPipelineTask: task}}}
	tr.Status.Steps = steps
	tr.Status.CompletionTime = done
	if succeeded != "" {
		tr.Status.Conditions = duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: succeeded}}
	}
	return tr
}

func terminated(name string, started, finished float64) pipelinev1.StepState {
	return pipelinev1.StepState{Name: name, ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{StartedAt: mt(started), FinishedAt: mt(finished)}}}
}

func scheduledPod(s float64) corev1.Pod {
	return corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: mt(s - 0.5)},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: mt(s)},
	}}}
}

// observed is a green push: every phase is there.
func observed() Observed {
	return Observed{
		Sent:        at(0),
		PipelineRun: pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Name: "run", CreationTimestamp: mt(1)}},
		TaskRuns: []pipelinev1.TaskRun{
			taskRunOf(buildTask, []pipelinev1.StepState{terminated("build-push", 40, 50)}, mtp(51), corev1.ConditionTrue),
			taskRunOf(cloneTask, []pipelinev1.StepState{terminated("clone", 4, 5)}, mtp(6), corev1.ConditionTrue),
			// The test step's container started with the pod; the
			// entrypoint's record of the step itself is later.
			taskRunOf(testTask, []pipelinev1.StepState{terminated("tools", 14, 15), terminated(testStep, 16, 38)}, mtp(39), corev1.ConditionTrue),
		},
		Pods: []corev1.Pod{scheduledPod(12), scheduledPod(2), {}},
		Statuses: []fakescm.Status{
			{Context: "slipway/other", State: "pending", At: at(0.1)},
			status("pending", "Queued", 0.3),
			status("pending", "Running", 3),
			status("pending", "Running", 3.5),
			status("success", "Passed", 57),
		},
	}
}

func TestExtract(t *testing.T) {
	secs := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	all := map[Phase]time.Duration{Pending: secs(0.3), Created: secs(1), Scheduled: secs(2), CloneRunning: secs(4),
		TestRunning: secs(16), ImagePushed: secs(51), Success: secs(57)}
	without := func(ps ...Phase) map[Phase]time.Duration {
		m := map[Phase]time.Duration{}
		for p, d := range all {
			m[p] = d
		}
		for _, p := range ps {
			delete(m, p)
		}
		return m
	}
	tests := []struct {
		name   string
		change func(*Observed)
		want   map[Phase]time.Duration
	}{
		{name: "green push", change: func(*Observed) {}, want: all},
		{
			name: "a running step counts from its container",
			change: func(o *Observed) {
				o.TaskRuns[2].Status.Steps[1] = pipelinev1.StepState{Name: testStep, ContainerState: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: mt(14)}}}
			},
			want: func() map[Phase]time.Duration { m := without(); m[TestRunning] = secs(14); return m }(),
		},
		{
			name:   "pods pruned",
			change: func(o *Observed) { o.Pods = nil },
			want:   without(Scheduled),
		},
		{
			name:   "no success status, only running",
			change: func(o *Observed) { o.Statuses = o.Statuses[:4] },
			want:   without(Success),
		},
		{
			name:   "build-push failed: no image",
			change: func(o *Observed) { o.TaskRuns[0].Status.Conditions[0].Status = corev1.ConditionFalse },
			want:   without(ImagePushed),
		},
		{
			name:   "no unit-test TaskRun",
			change: func(o *Observed) { o.TaskRuns = o.TaskRuns[:2] },
			want:   without(TestRunning),
		},
		{
			name:   "step not reached",
			change: func(o *Observed) { o.TaskRuns[1].Status.Steps = []pipelinev1.StepState{{Name: cloneStep}} },
			want:   without(CloneRunning),
		},
		{
			name:   "only a running status: no pending",
			change: func(o *Observed) { o.Statuses = []fakescm.Status{status("pending", "Running", 3)} },
			want:   without(Pending, Success),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := observed()
			tt.change(&o)
			got := Extract(o)
			if diff := cmp.Diff(tt.want, got.At); diff != "" {
				t.Errorf("Extract (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	got := Timeline{At: map[Phase]time.Duration{Pending: 1, Created: 2, CloneRunning: 3, TestRunning: 4, Success: 5}}.Missing()
	if diff := cmp.Diff([]Phase{Scheduled, ImagePushed}, got); diff != "" {
		t.Errorf("Missing (-want +got):\n%s", diff)
	}
}

func TestPercentile(t *testing.T) {
	five := []time.Duration{1, 2, 3, 4, 5}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{name: "none", sorted: nil, p: 0.5, want: 0},
		{name: "one", sorted: []time.Duration{7}, p: 0.9, want: 7},
		{name: "p50 of five", sorted: five, p: 0.5, want: 3},
		{name: "p90 of five is the max", sorted: five, p: 0.9, want: 5},
		{name: "p50 of four is the lower middle", sorted: five[:4], p: 0.5, want: 2},
		{name: "p0 is the min", sorted: five, p: 0, want: 1},
		{name: "p100 is the max", sorted: five, p: 1, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	s := time.Second
	ts := []Timeline{
		{At: map[Phase]time.Duration{Pending: 1 * s, Created: 2 * s, Success: 30 * s}},
		{At: map[Phase]time.Duration{Pending: 3 * s, Created: 5 * s}},
		{At: map[Phase]time.Duration{Pending: 2 * s, Created: 6 * s, Success: 40 * s}},
	}
	want := map[Phase]Stat{
		Pending: {N: 3, P50: 2 * s, P90: 3 * s, Max: 3 * s, StepP50: 2 * s},
		Created: {N: 3, P50: 5 * s, P90: 6 * s, Max: 6 * s, StepP50: 2 * s},
		// Success's previous phase, ImagePushed, was never seen: no step time.
		Success: {N: 2, P50: 30 * s, P90: 40 * s, Max: 40 * s},
	}
	if diff := cmp.Diff(want, Summarize(ts)); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
}

func TestWriteTable(t *testing.T) {
	s := time.Second
	r := SampleResult{Sample: "go", Repo: "e2e/pushbench-go-abc",
		Cold: Timeline{At: map[Phase]time.Duration{Pending: s / 2, Created: 2 * s}},
		Warm: []Timeline{{At: map[Phase]time.Duration{Pending: s / 4, Created: s}}, {At: map[Phase]time.Duration{Pending: s / 2, Created: 3 * s}}}}
	var b strings.Builder
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		"| go: push → | cold (1st) s | warm p50 s | warm p90 s | warm max s | warm n | warm p50 since previous phase s |",
		"|---|--:|--:|--:|--:|--:|--:|",
		"| `pending` status | 0.5 | 0.2 | 0.5 | 0.5 | 2 | 0.2 |",
		"| PipelineRun created | 2.0 | 1.0 | 3.0 | 3.0 | 2 | 0.8 |",
		"| first pod scheduled | — | — | — | — | 0 | — |",
		"| clone step running | — | — | — | — | 0 | — |",
		"| unit-test step (`test`) running | — | — | — | — | 0 | — |",
		"| image pushed (build-push finished) | — | — | — | — | 0 | — |",
		"| `success` status | — | — | — | — | 0 | — |",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("WriteTable (-want +got):\n%s", diff)
	}
}

func TestAims(t *testing.T) {
	s := time.Second
	warm := []Timeline{
		{At: map[Phase]time.Duration{Pending: s / 2, TestRunning: 5 * s, Success: 25 * s}},
		{At: map[Phase]time.Duration{Pending: 2 * s, TestRunning: 7 * s, Success: 40 * s}},
		{At: map[Phase]time.Duration{Pending: s / 2, TestRunning: 6 * s}},
	}
	tests := []struct {
		name string
		r    SampleResult
		want []string
	}{
		{
			name: "go: pending max over, test and green p50 met",
			r:    SampleResult{Sample: "go", Warm: warm},
			want: []string{
				"push → `pending` (p99; the warm max here) ≤ 1s: 2.0 s, **not met**",
				"push → unit-test step running p50 ≤ 6s: 6.0 s, met",
				"Go sample push → green p50 ≤ 30s: 25.0 s, met",
			},
		},
		{
			name: "node: no green aim",
			r:    SampleResult{Sample: "node", Warm: warm[:1]},
			want: []string{
				"push → `pending` (p99; the warm max here) ≤ 1s: 0.5 s, met",
				"push → unit-test step running p50 ≤ 6s: 5.0 s, met",
			},
		},
		{
			name: "nothing measured",
			r:    SampleResult{Sample: "go"},
			want: []string{
				"push → `pending` (p99; the warm max here) ≤ 1s: **not measured**",
				"push → unit-test step running p50 ≤ 6s: **not measured**",
				"Go sample push → green p50 ≤ 30s: **not measured**",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Aims(tt.r)); diff != "" {
				t.Errorf("Aims (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplaceSection(t *testing.T) {
	section := "## Push to green (local stack)\n\nnew\n"
	block := BeginMarker + "\n## Push to green (local stack)\n\nnew\n" + EndMarker
	tests := []struct {
		name    string
		doc     string
		want    string
		wantErr bool
	}{
		{name: "empty file", doc: "", want: block + "\n"},
		{name: "appended after the others", doc: "# Results\n\n## Intake\n", want: "# Results\n\n## Intake\n\n" + block + "\n"},
		{
			name: "replaced in place, the analysis around kept",
			doc:  "# R\n" + BeginMarker + "\n## Push to green (local stack)\n\nold\n" + EndMarker + "\n\n## Verdict\n",
			want: "# R\n" + block + "\n\n## Verdict\n",
		},
		{
			name: "another program's section untouched",
			doc:  "<!-- intakebench:begin -->\nintake\n<!-- intakebench:end -->\n",
			want: "<!-- intakebench:begin -->\nintake\n<!-- intakebench:end -->\n\n" + block + "\n",
		},
		{name: "end before begin", doc: EndMarker + "\n" + BeginMarker + "\n", wantErr: true},
		{name: "begin without end", doc: BeginMarker + "\nold\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplaceSection(tt.doc, section)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ReplaceSection error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReplaceSection (-want +got):\n%s", diff)
			}
		})
	}
}
