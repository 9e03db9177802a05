//go:build e2e

package e2e

// buildkitd's mutual TLS (deploy/buildkitd; the stack's host buildkitd is
// run the same way by e2e/stack/buildkit.sh): from a pod the
// NetworkPolicies let through (labelled as a build step), a build without
// the client certificate is refused and one with it pushes; and in a real
// CI run only the build step's TaskRun holds the certificate.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// buildkitClientSecret is the stack's SLIPWAY_BUILDKIT_TLS_SECRET (slipway.sh).
const buildkitClientSecret = "buildkit-client-tls"

func TestBuildkitdTakesOnlyClientCertificates(t *testing.T) {
	t.Parallel()
	slipway(t)
	c := framework.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	image := framework.Registry + "/e2e/buildkit-tls-" + randomHex(t, 4)
	build := func(label, tlsFlag string) string {
		// FROM scratch: nothing to pull, the daemon only has to accept us;
		// timeout (coreutils) bounds a client that would wait on the daemon.
		return fmt.Sprintf(`if timeout 120 slipway build --addr %s %s --context /tmp/ctx --image %s --tag %s --source http://git.invalid/e2e/tls.git --revision %s --insecure >/tmp/%s.log 2>&1; then echo "%s built"; else echo "%s refused"; tail -n 3 /tmp/%s.log | sed 's/^/%s: /'; fi`,
			framework.BuildkitAddr, tlsFlag, image, label, strings.Repeat("a", 40), label, label, label, label, label)
	}
	script := strings.Join([]string{
		"set -u",
		"mkdir -p /tmp/ctx && printf 'FROM scratch\\nCOPY Dockerfile /Dockerfile\\n' >/tmp/ctx/Dockerfile",
		build("plain", ""),
		build("tls", "--tls-dir /etc/buildkit-tls"),
	}, "\n")
	no := false
	pods := c.Kube.CoreV1().Pods(buildsNamespace)
	pod, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-buildkit-tls-", Labels: map[string]string{
			framework.TestLabel: "buildkit-tls",
			// What the NetworkPolicies let reach buildkitd: a CI build step.
			tekton.LabelPipeline: "ci", "tekton.dev/task": "slipway-build-push", "tekton.dev/pipelineTask": "build-push",
		}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "probe", Image: slipwayToolsImage(ctx, t),
				Command:      []string{"sh", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/buildkit-tls", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: buildkitClientSecret}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the probe pod: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			framework.DumpPod(t, buildsNamespace, pod.Name)
		}
		_ = pods.Delete(context.Background(), pod.Name, metav1.DeleteOptions{})
	})
	framework.WaitForPod(ctx, t, buildsNamespace, pod.Name, framework.PodSucceeded)
	out, err := pods.GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("probe logs: %v", err)
	}
	var got []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(line, " built") || strings.HasSuffix(line, " refused") {
			got = append(got, line)
		}
	}
	if diff := cmp.Diff([]string{"plain refused", "tls built"}, got); diff != "" {
		t.Errorf("builds from a build-step pod (-want +got):\n%s\nlog:\n%s", diff, out)
	}
	if d, err := registryDigest(ctx, image+":plain"); err == nil && d != "" {
		t.Errorf("the build without a certificate pushed %s:plain (%s)", image, d)
	}
}

// checkSecretWorkspaces: of a CI run's TaskRuns only build-push holds the
// buildkitd client certificate, only clone the git credentials; the
// unit-test step, which runs the repository's code, holds neither.
func checkSecretWorkspaces(ctx context.Context, t *testing.T, pr *pipelinev1.PipelineRun) {
	t.Helper()
	got := map[string][]string{}
	for _, ch := range pr.Status.ChildReferences {
		tr, err := framework.Get(t).Tekton.TektonV1().TaskRuns(pr.Namespace).Get(ctx, ch.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("TaskRun %s: %v", ch.Name, err)
		}
		for _, w := range tr.Spec.Workspaces {
			if w.Secret != nil {
				got[ch.PipelineTaskName] = append(got[ch.PipelineTaskName], w.Name+"="+w.Secret.SecretName)
			}
		}
	}
	want := map[string][]string{"build-push": {"buildkit-tls=" + buildkitClientSecret}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Secrets bound per task of %s (-want +got):\n%s", pr.Name, diff)
	}
}
