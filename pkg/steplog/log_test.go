package steplog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/slipway-ci/slipway/pkg/store"
)

func TestTail(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
		trunc  bool
	}{
		{"under the cap", 100, []string{"a\n", "b\n"}, "a\nb\n", false},
		{"keeps whole lines of the tail", 8, []string{"line1\n", "line2\n", "line3\n"}, "line3\n", true},
		{"a line longer than the cap is cut", 4, []string{"abcdefgh"}, "efgh", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := &Tail{Max: tt.max}
			for _, w := range tt.writes {
				_, _ = tl.Write([]byte(w))
			}
			if string(tl.Buf) != tt.want || tl.Truncated() != tt.trunc {
				t.Errorf("tail = %q truncated %v, want %q %v", tl.Buf, tl.Truncated(), tt.want, tt.trunc)
			}
		})
	}
}

// Lookup prefers the stored log, reads a live pod otherwise, and says
// ErrGone when neither has it.
func TestLookup(t *testing.T) {
	e := newEnv(t)
	e.setPodLog("step-build", "line 1\nline 2\n")
	tests := []struct {
		name      string
		stored    *store.StepLog
		pod       string
		container string
		want      Log
		wantErr   error
		wantReads int
	}{
		{"stored", &store.StepLog{Log: "saved\n", Truncated: true}, "p", "step-build", Log{Text: "saved\n", Truncated: true}, nil, 0},
		{"from the pod, capped", nil, "p", "step-build", Log{Text: "line 2\n", Truncated: true}, nil, 1},
		{"no pod", nil, "", "step-build", Log{}, ErrGone, 0},
		{"pod gone", nil, "p", "step-lost", Log{}, ErrGone, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.logReads()
			got, err := Lookup(context.Background(), e.kube, tt.stored, ns, tt.pod, tt.container, 8)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Lookup error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup (-want +got):\n%s", diff)
			}
			if n := e.logReads() - before; n != tt.wantReads {
				t.Errorf("%d pod log reads, want %d", n, tt.wantReads)
			}
		})
	}
}

func TestFailedTaskRun(t *testing.T) {
	ok := taskRun("clone", nil, cond(corev1.ConditionTrue, "Succeeded", ""))
	bad := taskRun("unit-test", []pipelinev1.StepState{terminated("setup", 0, t0, t0), terminated("go-test", 1, t0, t0)},
		cond(corev1.ConditionFalse, "Failed", "boom"))
	later := taskRun("lint", nil, cond(corev1.ConditionFalse, "Failed", "later"))
	byName := map[string]*pipelinev1.TaskRun{ok.Name: ok, bad.Name: bad, later.Name: later}
	get := func(name string) (*pipelinev1.TaskRun, error) {
		if tr, found := byName[name]; found {
			return tr, nil
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "taskruns"}, name)
	}
	pr := func(children ...string) *pipelinev1.PipelineRun {
		p := &pipelinev1.PipelineRun{}
		for _, c := range children {
			p.Status.ChildReferences = append(p.Status.ChildReferences, pipelinev1.ChildStatusReference{Name: c, PipelineTaskName: strings.TrimPrefix(c, runName+"-")})
		}
		return p
	}
	tests := []struct {
		name     string
		pr       *pipelinev1.PipelineRun
		wantTask string
	}{
		{"first failed in pipeline order", pr(ok.Name, "pruned", bad.Name, later.Name), "unit-test"},
		{"none failed", pr(ok.Name), ""},
		{"only pruned", pr("pruned"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, tr := FailedTaskRun(tt.pr, get)
			got := ""
			if ref != nil {
				got = ref.PipelineTaskName
				if tr == nil || tr.Name != ref.Name {
					t.Errorf("TaskRun %v does not match its reference %s", tr, ref.Name)
				}
			}
			if got != tt.wantTask {
				t.Errorf("failed task = %q, want %q", got, tt.wantTask)
			}
		})
	}
	if s := FailedStep(bad.Status.Steps); s == nil || s.Name != "go-test" || Container(*s) != "step-go-test" {
		t.Errorf("FailedStep = %+v, want go-test in step-go-test", s)
	}
	if s := FailedStep(ok.Status.Steps); s != nil {
		t.Errorf("FailedStep of a run without steps = %+v", s)
	}
	if c := Container(pipelinev1.StepState{Name: "x"}); c != "step-x" {
		t.Errorf("Container without a name = %q, want step-x", c)
	}
}

func TestLastLines(t *testing.T) {
	var in strings.Builder
	for i := range 30 {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	tests := []struct {
		name     string
		n, bytes int
		want     []string
	}{
		{"last n lines", 3, 1 << 10, []string{"line 27", "line 28", "line 29"}},
		{"bounded by bytes, the cut line dropped", 10, 12, []string{"line 29"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LastLines(in.String(), tt.n, tt.bytes)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LastLines (-want +got):\n%s", diff)
			}
		})
	}
}
