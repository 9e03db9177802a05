//go:build e2e

package framework

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

func TestNamespacePrefix(t *testing.T) {
	tests := []struct{ name, want string }{
		{"TestSmoke", "e2e-testsmoke-"},
		{"TestA/sub_case#01", "e2e-testa-sub-case-01-"},
		{"TestAVeryLongNameThatKeepsGoingAndGoingAndGoing/more", "e2e-testaverylongnamethatkeepsgoingandgoinga-"},
		{"///", "e2e-test-"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, NamespacePrefix(tt.name)); diff != "" {
			t.Errorf("NamespacePrefix(%q) (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestLabelValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"TestSmoke/sub case", "TestSmoke_sub_case"},
		{"__x__", "x"},
		{"", "unnamed"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, labelValue(tt.in)); diff != "" {
			t.Errorf("labelValue(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func run(status corev1.ConditionStatus, reason string) *pipelinev1.PipelineRun {
	pr := &pipelinev1.PipelineRun{}
	if status != "" {
		pr.Status.Status = duckv1.Status{Conditions: duckv1.Conditions{{
			Type: apis.ConditionSucceeded, Status: status, Reason: reason,
		}}}
	}
	return pr
}

func TestPipelineRunConditions(t *testing.T) {
	type result struct {
		Met      bool
		Terminal bool
	}
	tests := []struct {
		name string
		cond PipelineRunCondition
		pr   *pipelinev1.PipelineRun
		want result
	}{
		{"succeeded/new", PipelineRunSucceeded, run("", ""), result{}},
		{"succeeded/running", PipelineRunSucceeded, run(corev1.ConditionUnknown, "Running"), result{}},
		{"succeeded/true", PipelineRunSucceeded, run(corev1.ConditionTrue, "Succeeded"), result{Met: true}},
		{"succeeded/false", PipelineRunSucceeded, run(corev1.ConditionFalse, "Failed"), result{Terminal: true}},
		{"failed/false", PipelineRunFailed, run(corev1.ConditionFalse, "Failed"), result{Met: true}},
		{"failed/true", PipelineRunFailed, run(corev1.ConditionTrue, "Succeeded"), result{Terminal: true}},
		{"done/running", PipelineRunDone, run(corev1.ConditionUnknown, "Running"), result{}},
		{"done/false", PipelineRunDone, run(corev1.ConditionFalse, "Failed"), result{Met: true}},
		{"reason/match", PipelineRunReason("Cancelled"), run(corev1.ConditionFalse, "Cancelled"), result{Met: true}},
		{"reason/other", PipelineRunReason("Cancelled"), run(corev1.ConditionFalse, "Failed"), result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			met, err := tt.cond(tt.pr)
			if err != nil && !errors.Is(err, ErrTerminal) {
				t.Fatalf("error %v does not wrap ErrTerminal", err)
			}
			got := result{Met: met, Terminal: err != nil}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodConditions(t *testing.T) {
	failed := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "c", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}},
	}}}}
	ready := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{
		Type: corev1.PodReady, Status: corev1.ConditionTrue,
	}}}}
	pending := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}
	done := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}

	tests := []struct {
		name         string
		cond         PodCondition
		pod          *corev1.Pod
		wantMet      bool
		wantTerminal bool
	}{
		{"succeeded/pending", PodSucceeded, pending, false, false},
		{"succeeded/done", PodSucceeded, done, true, false},
		{"succeeded/failed", PodSucceeded, failed, false, true},
		{"ready/ready", PodReady, ready, true, false},
		{"ready/pending", PodReady, pending, false, false},
		{"ready/failed", PodReady, failed, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			met, err := tt.cond(tt.pod)
			if met != tt.wantMet || (err != nil) != tt.wantTerminal {
				t.Errorf("got met=%v err=%v, want met=%v terminal=%v", met, err, tt.wantMet, tt.wantTerminal)
			}
			if err != nil && !errors.Is(err, ErrTerminal) {
				t.Errorf("error %v does not wrap ErrTerminal", err)
			}
		})
	}
}
