//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/cli"
	"github.com/slipway-ci/slipway/pkg/deploy"
	"github.com/slipway-ci/slipway/pkg/rollout"
)

// pushWebApp pushes busybox httpd serving body on :8080 to the stack
// registry and returns it by digest. A ready app serves /ready, which the
// test Deployments probe; an unready one does not, so it never passes.
func pushWebApp(t *testing.T, body string, ready bool) string {
	t.Helper()
	files := map[string][]byte{"www/index.html": []byte(body)}
	if ready {
		files["www/ready"] = []byte("ok")
	}
	return pushBusybox(t, files, []string{"httpd", "-f", "-p", "8080", "-h", "/www"})
}

// pushBusybox pushes busybox plus files, running cmd, and returns it by digest.
func pushBusybox(t *testing.T, files map[string][]byte, cmd []string) string {
	t.Helper()
	base, err := remote.Image(mustRef(t, framework.Registry+"/base/busybox:latest"))
	if err != nil {
		t.Fatalf("reading the busybox base: %v", err)
	}
	layer, err := crane.Layer(files)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Cmd = cmd
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	repo := framework.Registry + "/e2e/deploy-web"
	if err := remote.Write(mustRef(t, repo+"@"+d.String()), img); err != nil {
		t.Fatalf("pushing %v: %v", cmd, err)
	}
	return repo + "@" + d.String()
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func webDeployment(ns, name string, replicas int32, labels map[string]string, image string) *appsv1.Deployment {
	grace := int64(2)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers: []corev1.Container{{
						Name:  "web",
						Image: image,
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}},
							PeriodSeconds:    1,
							FailureThreshold: 1,
						},
					}},
				},
			},
		},
	}
}

func webService(ns, name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// deployFixture creates objects and waits until every Deployment among
// them is fully available.
func deployFixture(ctx context.Context, t *testing.T, ns string, objs ...any) {
	t.Helper()
	kube := framework.Get(t).Kube
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *appsv1.Deployment:
			_, err = kube.AppsV1().Deployments(ns).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Service:
			_, err = kube.CoreV1().Services(ns).Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatalf("creating fixture: %v", err)
		}
	}
	for _, o := range objs {
		if dep, ok := o.(*appsv1.Deployment); ok {
			waitAvailable(ctx, t, ns, dep.Name)
		}
	}
}

func waitAvailable(ctx context.Context, t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	var dep *appsv1.Deployment
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		dep, err = framework.Get(t).Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s, want := dep.Status, *dep.Spec.Replicas
		return s.ObservedGeneration >= dep.Generation && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want, nil
	})
	if err != nil {
		t.Fatalf("deployment %s/%s not available: %v (status %+v)", ns, name, err, dep.Status)
	}
	return dep
}

func deployer(t *testing.T) *deploy.Deployer {
	return deploy.New(framework.Get(t).Kube, deploy.WithPollInterval(time.Second), deploy.WithProgress(func(s string) { t.Log(s) }))
}

// podsOf returns the UIDs and images of the running pods matching selector.
func podsOf(ctx context.Context, t *testing.T, ns, selector string) (uids, images []string) {
	t.Helper()
	pods, err := framework.Get(t).Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		uids = append(uids, string(p.UID))
		images = append(images, p.Spec.Containers[0].Image)
	}
	slices.Sort(uids)
	slices.Sort(images)
	return uids, slices.Compact(images)
}

func deploymentImage(ctx context.Context, t *testing.T, ns, name string) string {
	t.Helper()
	dep, err := framework.Get(t).Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return dep.Spec.Template.Spec.Containers[0].Image
}

func TestDeployRollingGoodImage(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v1, v2 := pushWebApp(t, "rolling v1", true), pushWebApp(t, "rolling v2", true)
	labels := map[string]string{"app": "web"}
	deployFixture(ctx, t, ns, webDeployment(ns, "web", 2, labels, v1))

	err := deployer(t).Run(ctx, deploy.Spec{Strategy: rollout.Rolling, Namespace: ns, App: "web", Image: v2, ProgressDeadline: 2 * time.Minute})
	if err != nil {
		t.Fatalf("rolling rollout: %v", err)
	}
	waitAvailable(ctx, t, ns, "web")
	if _, images := podsOf(ctx, t, ns, "app=web"); !slices.Equal(images, []string{v2}) {
		t.Errorf("pods run %v, want only %s", images, v2)
	}
}

func TestDeployRollingRollbackRestoresPreviousDigest(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v1, bad := pushWebApp(t, "rolling v1", true), pushWebApp(t, "rolling never ready", false)
	labels := map[string]string{"app": "web"}
	deployFixture(ctx, t, ns, webDeployment(ns, "web", 2, labels, v1))

	err := deployer(t).Run(ctx, deploy.Spec{Strategy: rollout.Rolling, Namespace: ns, App: "web", Image: bad, ProgressDeadline: 30 * time.Second})
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || !rb.Restored {
		t.Fatalf("rolling rollout of an unready image = %v, want a completed rollback", err)
	}
	t.Logf("rolled back: %s", rb.Reason)
	if got := deploymentImage(ctx, t, ns, "web"); got != v1 {
		t.Errorf("deployment image after rollback = %s, want the previous digest %s", got, v1)
	}
	waitAvailable(ctx, t, ns, "web")
	if _, images := podsOf(ctx, t, ns, "app=web"); !slices.Equal(images, []string{v1}) {
		t.Errorf("pods run %v after rollback, want only %s", images, v1)
	}
}

// requestLoop GETs url until stopped and counts failures and bodies.
type requestLoop struct {
	mu       sync.Mutex
	ok       int
	failures []string
	bodies   map[string]int
	last     string
	stop     chan struct{}
	done     chan struct{}
}

func startRequestLoop(url string) *requestLoop {
	l := &requestLoop{bodies: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	// A new connection per request: each one is routed by the current
	// kube-proxy rules, as clients behind a Service would be.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := client.Get(url)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %s", resp.Status)
				}
			}
			l.mu.Lock()
			if err != nil {
				l.failures = append(l.failures, err.Error())
			} else {
				l.ok++
				l.bodies[string(body)]++
				l.last = string(body)
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *requestLoop) Stop() {
	close(l.stop)
	<-l.done
}

func TestDeployBlueGreenSwitchLosesNoRequests(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v1, v2 := pushWebApp(t, "bluegreen v1", true), pushWebApp(t, "bluegreen v2", true)
	blue := map[string]string{"app": "web", deploy.LabelColor: "blue"}
	deployFixture(ctx, t, ns, webService(ns, "web", blue), webDeployment(ns, "web-blue", 2, blue, v1))
	svc, err := framework.Get(t).Kube.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + svc.Spec.ClusterIP + "/"
	// The Service answers before the loop starts counting.
	// Until kube-proxy has its rule the ClusterIP is a black hole: time out.
	probe := &http.Client{Timeout: 2 * time.Second}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		resp, err := probe.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("service %s never answered: %v", url, err)
	}

	loop := startRequestLoop(url)
	err = deployer(t).Run(ctx, deploy.Spec{Strategy: rollout.BlueGreen, Namespace: ns, App: "web", Image: v2,
		ProgressDeadline: 2 * time.Minute, ScaleDownDelay: 10 * time.Second})
	// Keep going while blue terminates: its pods must already be out of
	// the Service.
	time.Sleep(5 * time.Second)
	loop.Stop()
	if err != nil {
		t.Fatalf("blue-green rollout: %v", err)
	}
	t.Logf("requests: %d ok, %d failed, bodies %v", loop.ok, len(loop.failures), loop.bodies)
	if len(loop.failures) > 0 {
		t.Errorf("%d requests failed during the switch, want 0; first: %s", len(loop.failures), loop.failures[0])
	}
	if loop.bodies["bluegreen v1"] == 0 || loop.bodies["bluegreen v2"] == 0 || loop.last != "bluegreen v2" {
		t.Errorf("bodies %v, last %q: want v1 then v2", loop.bodies, loop.last)
	}
	svc, err = framework.Get(t).Kube.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Spec.Selector[deploy.LabelColor]; got != "green" {
		t.Errorf("service selects %q, want green", got)
	}
	if got := deploymentImage(ctx, t, ns, "web-green"); got != v2 {
		t.Errorf("web-green runs %s, want %s", got, v2)
	}
}

func TestDeployBlueGreenUnreadyImageKeepsTraffic(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v1, bad := pushWebApp(t, "bluegreen v1", true), pushWebApp(t, "bluegreen never ready", false)
	blue := map[string]string{"app": "web", deploy.LabelColor: "blue"}
	deployFixture(ctx, t, ns, webService(ns, "web", blue), webDeployment(ns, "web-blue", 2, blue, v1))

	err := deployer(t).Run(ctx, deploy.Spec{Strategy: rollout.BlueGreen, Namespace: ns, App: "web", Image: bad, ProgressDeadline: 30 * time.Second})
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || !rb.Restored {
		t.Fatalf("blue-green rollout of an unready image = %v, want a completed rollback", err)
	}
	svc, err := framework.Get(t).Kube.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Spec.Selector[deploy.LabelColor]; got != "blue" {
		t.Errorf("service selects %q after the rollback, want blue", got)
	}
	if got := deploymentImage(ctx, t, ns, "web-blue"); got != v1 {
		t.Errorf("web-blue runs %s, want %s", got, v1)
	}
}

func TestDeployCanaryGoodImage(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v1, v2 := pushWebApp(t, "canary v1", true), pushWebApp(t, "canary v2", true)
	labels := map[string]string{"app": "web"}
	deployFixture(ctx, t, ns, webService(ns, "web", labels), webDeployment(ns, "web", 4, labels, v1))

	err := deployer(t).Run(ctx, deploy.Spec{Strategy: rollout.Canary, Namespace: ns, App: "web", Image: v2,
		Steps: []int{25, 50, 100}, Pause: 5 * time.Second, ProgressDeadline: 2 * time.Minute})
	if err != nil {
		t.Fatalf("canary rollout: %v", err)
	}
	if got := deploymentImage(ctx, t, ns, "web"); got != v2 {
		t.Errorf("stable runs %s, want %s", got, v2)
	}
	if _, err := framework.Get(t).Kube.AppsV1().Deployments(ns).Get(ctx, "web-canary", metav1.GetOptions{}); err == nil {
		t.Errorf("web-canary still exists")
	}
	waitAvailable(ctx, t, ns, "web")
}

func TestDeployCanaryUnreadyImageRollsBackWithoutTouchingStable(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v1, bad := pushWebApp(t, "canary v1", true), pushWebApp(t, "canary never ready", false)
	labels := map[string]string{"app": "web"}
	deployFixture(ctx, t, ns, webService(ns, "web", labels), webDeployment(ns, "web", 3, labels, v1))
	stable := "app=web," + deploy.LabelTrack + "!=canary"
	before, _ := podsOf(ctx, t, ns, stable)

	err := deployer(t).Run(ctx, deploy.Spec{Strategy: rollout.Canary, Namespace: ns, App: "web", Image: bad,
		Steps: []int{34, 100}, Pause: 5 * time.Second, ProgressDeadline: 30 * time.Second})
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || !rb.Restored {
		t.Fatalf("canary of an unready image = %v, want a completed rollback", err)
	}
	if !strings.Contains(rb.Reason, "web-canary") {
		t.Errorf("rollback reason %q does not name the canary", rb.Reason)
	}
	after, images := podsOf(ctx, t, ns, stable)
	if !slices.Equal(before, after) {
		t.Errorf("stable pods replaced: before %v, after %v (want 0 replaced)", before, after)
	}
	if !slices.Equal(images, []string{v1}) {
		t.Errorf("stable pods run %v, want only %s", images, v1)
	}
	if got := deploymentImage(ctx, t, ns, "web"); got != v1 {
		t.Errorf("stable deployment image = %s, want untouched %s", got, v1)
	}
	if _, err := framework.Get(t).Kube.AppsV1().Deployments(ns).Get(ctx, "web-canary", metav1.GetOptions{}); err == nil {
		t.Errorf("web-canary still exists")
	}
}

// The command the deploy Task runs: a crash-looping image is rolled back,
// the command fails with the reason, and the previous digest runs again.
func TestDeployCLIRollingCrashLoopRollsBack(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v1 := pushWebApp(t, "cli v1", true)
	crash := pushBusybox(t, map[string][]byte{"crash": []byte("1")}, []string{"sh", "-c", "echo crashing; exit 3"})
	deployFixture(ctx, t, ns, webDeployment(ns, "web", 2, map[string]string{"app": "web"}, v1))
	kubeconfig := os.Getenv("E2E_KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = framework.StackKubeconfig()
	}

	cmd := cli.NewDeployCmd()
	cmd.SilenceUsage = true
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--kubeconfig", kubeconfig, "--strategy", "rolling", "--image", crash, "--namespace", ns, "--app", "web",
		"--progress-deadline", "2m", "--poll-interval", "1s"})
	err := cmd.ExecuteContext(ctx)
	t.Logf("slipway deploy output:\n%s", out.String())
	// Whichever the kubelet shows first: a restart or the back-off.
	if err == nil || !strings.Contains(out.String(), "ROLLED BACK:") ||
		!strings.Contains(err.Error(), "crash loop") && !strings.Contains(err.Error(), "container restarts") {
		t.Fatalf("slipway deploy of a crashing image = %v, want a rollback for a crash loop", err)
	}
	if got := deploymentImage(ctx, t, ns, "web"); got != v1 {
		t.Errorf("deployment image after rollback = %s, want the previous digest %s", got, v1)
	}
	waitAvailable(ctx, t, ns, "web")
}
