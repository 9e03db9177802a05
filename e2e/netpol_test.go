//go:build e2e

package e2e

// The NetworkPolicies of deploy/ (deploy/base/networkpolicy.yaml, with the
// stack's addresses from slipway.sh), enforced by kube-router's firewall
// (e2e/stack/netpol.sh): pods labelled as a CI run's unit-test and
// build-push pods try TCP connections to everything on the stack, so does
// a pod labelled as a deploy run's in the builds namespace (confined like
// any pod there: deploy runs do not run there), and a deploy run's pod in
// the deploy namespace, which no policy selects, shows each destination
// is up, so a missing enforcer fails the test.

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// probeTarget is one destination a CI step could try.
type probeTarget struct {
	name, addr string // addr is IP:PORT
}

func TestNetworkPolicyConfinesCIPods(t *testing.T) {
	t.Parallel()
	s := slipway(t) // applies deploy/, its NetworkPolicies included
	c := framework.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	svc, err := c.Kube.CoreV1().Services("slipway").Get(ctx, "slipway", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Slipway's Service: %v", err)
	}
	slipwayPod, err := c.Kube.CoreV1().Pods("slipway").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=slipway"})
	if err != nil || len(slipwayPod.Items) == 0 || slipwayPod.Items[0].Status.PodIP == "" {
		t.Fatalf("Slipway's pod: %v (%d pods)", err, len(slipwayPod.Items))
	}
	git, err := url.Parse(s.FakeSCM)
	if err != nil {
		t.Fatal(err)
	}
	targets := []probeTarget{
		{"apiserver", framework.HostIP + ":6443"},
		{"kubernetes-service", "10.96.0.1:443"},
		{"kubelet", framework.HostIP + ":10250"},
		{"slipway-service", svc.Spec.ClusterIP + ":80"},
		{"slipway-pod", slipwayPod.Items[0].Status.PodIP + ":8080"},
		{"buildkitd", strings.TrimPrefix(framework.BuildkitAddr, "tcp://")},
		{"registry", framework.Registry},
		{"git", git.Host},
	}
	closedBut := func(open ...string) map[string]string {
		m := map[string]string{}
		for _, tg := range targets {
			m[tg.name] = "closed"
		}
		for _, o := range open {
			m[o] = "open"
		}
		return m
	}
	allOpen := closedBut()
	for k := range allOpen {
		allOpen[k] = "open"
	}

	deployPod := map[string]string{tekton.LabelPipeline: tekton.KindDeploy, "tekton.dev/task": "slipway-deploy", "tekton.dev/pipelineTask": "deploy"}
	for _, tc := range []struct {
		name, ns string
		labels   map[string]string
		// confined pods first wait for the enforcer to have programmed
		// their chain (the apiserver turns unreachable), then probe.
		confined bool
		want     map[string]string
	}{
		{"unit-test", buildsNamespace, map[string]string{tekton.LabelPipeline: "ci", "tekton.dev/task": "slipway-unit-test", "tekton.dev/pipelineTask": "unit-test"},
			true, closedBut("registry", "git")},
		{"build-push", buildsNamespace, map[string]string{tekton.LabelPipeline: "ci", "tekton.dev/task": "slipway-build-push", "tekton.dev/pipelineTask": "build-push"},
			true, closedBut("registry", "git", "buildkitd")},
		// A pod of the builds namespace labelled as a deploy run's gets no
		// way out: the policies select every pod there.
		{"deploy-labelled-in-builds", buildsNamespace, deployPod, true, closedBut("registry", "git")},
		// The control: deploy pods, in the deploy namespace, are not
		// selected, and reach everything.
		{"deploy", deployNamespace, deployPod, false, allOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Its own deadline from when it runs: parallel subtests wait
			// for a free slot (-parallel) after the parent returns, which
			// on a busy suite is longer than any deadline set above.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			got := probeFrom(ctx, t, tc.ns, tc.labels, tc.confined, targets)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("reachable from a %s pod (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

// probeFrom runs a busybox pod with labels in namespace ns that tries a
// TCP connection to each target and returns "open" or "closed" for each.
func probeFrom(ctx context.Context, t *testing.T, ns string, labels map[string]string, confined bool, targets []probeTarget) map[string]string {
	t.Helper()
	c := framework.Get(t)
	pods := c.Kube.CoreV1().Pods(ns)
	var script strings.Builder
	// Open when one of three connects succeeds: a connection the policy
	// allows may still meet a rare transient failure while the firewall
	// resyncs; one it denies must fail all three.
	script.WriteString(`probe() { for a in 1 2 3; do nc -w 2 "${2%:*}" "${2##*:}" -e /bin/true 2>/dev/null && { echo "$1 open"; return; }; done; echo "$1 closed"; }` + "\n")
	if confined {
		// The firewall programs a pod's chain when the pod has its IP;
		// wait (bounded) for it, so the probes below see the policy.
		fmt.Fprintf(&script, "for i in $(seq 1 60); do nc -w 2 %s 6443 -e /bin/true 2>/dev/null || break; sleep 1; done\n", framework.HostIP)
	}
	for _, tg := range targets {
		fmt.Fprintf(&script, "probe %s %s\n", tg.name, tg.addr)
	}
	l := map[string]string{framework.TestLabel: "netpol"}
	for k, v := range labels {
		l[k] = v
	}
	no := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-netpol-" + labels["tekton.dev/pipelineTask"] + "-", Labels: l},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "probe", Image: framework.BusyboxImage,
				Command: []string{"sh", "-c", script.String()},
			}},
		},
	}
	pod, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the probe pod: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			framework.DumpPod(t, ns, pod.Name)
		}
		_ = pods.Delete(context.Background(), pod.Name, metav1.DeleteOptions{})
	})
	framework.WaitForPod(ctx, t, ns, pod.Name, framework.PodSucceeded)
	out, err := pods.GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("probe logs: %v", err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, state, ok := strings.Cut(line, " "); ok {
			got[name] = state
		}
	}
	if len(got) != len(targets) {
		names := make([]string, 0, len(got))
		for n := range got {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Fatalf("probe printed %v, want one line per target:\n%s", names, out)
	}
	return got
}
