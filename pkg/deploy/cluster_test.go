package deploy

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/clock"
)

const (
	testNS   = "shop"
	oldImage = "registry.test/shop@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	newImage = "registry.test/shop@sha256:2222222222222222222222222222222222222222222222222222222222222222"
	ownerKey = "test.slipway.dev/owner"
)

// cluster is a fake clientset plus a clock whose Sleep moves time at once
// and then plays the Deployment controller and kubelet: pods appear for
// each Deployment's current image, ready unless the image is marked bad.
type cluster struct {
	// RealClock's other methods are never called by a Deployer; Now,
	// Since and After are this cluster's.
	clock.RealClock
	t      *testing.T
	client *fake.Clientset
	now    time.Time
	// bad maps an image to the waiting reason of its container ("" = never
	// ready, no reason), restarts to its restart count.
	bad      map[string]string
	restarts map[string]int32
	// onSleep runs before each reconcile, to change the world mid-rollout.
	onSleep func(c *cluster)
	log     []string
}

func newCluster(t *testing.T, objs ...any) *cluster {
	t.Helper()
	c := &cluster{
		t:        t,
		client:   fake.NewClientset(),
		now:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		bad:      map[string]string{},
		restarts: map[string]int32{},
	}
	c.client.PrependReactor("update", "deployments", bumpGeneration(c.client))
	ctx := context.Background()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *appsv1.Deployment:
			_, err = c.client.AppsV1().Deployments(testNS).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Service:
			_, err = c.client.CoreV1().Services(testNS).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("unexpected object %T", o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c.reconcile()
	return c
}

// bumpGeneration does what the API server does and the fake does not:
// a spec change increments metadata.generation; a status write keeps it.
func bumpGeneration(client *fake.Clientset) k8stesting.ReactionFunc {
	return func(action k8stesting.Action) (bool, runtime.Object, error) {
		upd := action.(k8stesting.UpdateAction)
		dep := upd.GetObject().(*appsv1.Deployment)
		old, err := client.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), dep.Namespace, dep.Name)
		if err != nil {
			return false, nil, nil
		}
		prev := old.(*appsv1.Deployment)
		dep.Generation = prev.Generation
		if upd.GetSubresource() == "" && !equality.Semantic.DeepEqual(prev.Spec, dep.Spec) {
			dep.Generation++
		}
		return false, nil, nil
	}
}

func (c *cluster) deployer(opts ...Option) *Deployer {
	base := []Option{WithClock(c), WithPollInterval(time.Second), WithProgress(func(s string) { c.log = append(c.log, s) })}
	return New(c.client, append(base, opts...)...)
}

func (c *cluster) Now() time.Time { return c.now }

func (c *cluster) Since(t time.Time) time.Duration { return c.now.Sub(t) }

// After moves time by d at once and lets the world change, so a rollout
// never waits on the wall clock.
func (c *cluster) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	if c.onSleep != nil {
		c.onSleep(c)
	}
	c.reconcile()
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func shortHash(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("%08x", h.Sum32())
}

// reconcile makes pods match Deployments. A good image replaces all pods;
// a bad one adds one failing pod (maxSurge 1) and leaves the rest, as the
// real controller does when the new ReplicaSet never becomes available.
func (c *cluster) reconcile() {
	ctx := context.Background()
	deps, err := c.client.AppsV1().Deployments(testNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	pods, err := c.client.CoreV1().Pods(testNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	byOwner := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		byOwner[p.Labels[ownerKey]] = append(byOwner[p.Labels[ownerKey]], p)
	}
	live := map[string]bool{}
	for i := range deps.Items {
		dep := &deps.Items[i]
		live[dep.Name] = true
		replicas := derefReplicas(dep)
		image := dep.Spec.Template.Spec.Containers[0].Image
		_, isBad := c.bad[image]
		want := map[string]bool{}
		n := replicas
		if isBad && replicas > 0 {
			n = 1
		}
		for i := range n {
			want[fmt.Sprintf("%s-%s-%d", dep.Name, shortHash(image), i)] = true
		}
		for _, p := range byOwner[dep.Name] {
			if want[p.Name] {
				c.setPodStatus(&p, image)
				continue
			}
			if isBad && p.Spec.Containers[0].Image != image && replicas > 0 {
				continue // old pods stay while the new ones fail
			}
			c.deletePod(p.Name)
		}
		for name := range want {
			if !slices.ContainsFunc(byOwner[dep.Name], func(p corev1.Pod) bool { return p.Name == name }) {
				c.createPod(dep, name, image)
			}
		}
		st := appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas}
		if isBad && replicas > 0 {
			var kept int32
			for _, p := range byOwner[dep.Name] {
				if p.Spec.Containers[0].Image != image {
					kept++
				}
			}
			st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas = kept+1, 1, kept, kept
		}
		dep.Status = st
		if _, err := c.client.AppsV1().Deployments(testNS).UpdateStatus(ctx, dep, metav1.UpdateOptions{}); err != nil {
			c.t.Fatal(err)
		}
	}
	for owner, ps := range byOwner {
		if !live[owner] {
			for _, p := range ps {
				c.deletePod(p.Name)
			}
		}
	}
}

func (c *cluster) createPod(dep *appsv1.Deployment, name, image string) {
	labels := map[string]string{ownerKey: dep.Name}
	for k, v := range dep.Spec.Template.Labels {
		labels[k] = v
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: labels, UID: types.UID("uid-" + name)},
		Spec:       *dep.Spec.Template.Spec.DeepCopy(),
	}
	c.setPodStatus(p, image)
	if _, err := c.client.CoreV1().Pods(testNS).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) setPodStatus(p *corev1.Pod, image string) {
	cs := corev1.ContainerStatus{Name: p.Spec.Containers[0].Name, Image: image, Ready: true, RestartCount: c.restarts[image],
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	if reason, bad := c.bad[image]; bad {
		cs.Ready = false
		if reason != "" {
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
		}
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	if p.ResourceVersion != "" {
		if _, err := c.client.CoreV1().Pods(testNS).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *cluster) deletePod(name string) {
	if err := c.client.CoreV1().Pods(testNS).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) deployment(name string) *appsv1.Deployment {
	c.t.Helper()
	dep, err := c.client.AppsV1().Deployments(testNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return dep
}

func (c *cluster) exists(name string) bool {
	_, err := c.client.AppsV1().Deployments(testNS).Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

// podUIDs lists the UIDs of pods without a track label (stable ones) of owner.
func (c *cluster) podUIDs(owner string) []string {
	c.t.Helper()
	pods, err := c.client.CoreV1().Pods(testNS).List(context.Background(), metav1.ListOptions{LabelSelector: ownerKey + "=" + owner})
	if err != nil {
		c.t.Fatal(err)
	}
	var uids []string
	for _, p := range pods.Items {
		uids = append(uids, string(p.UID))
	}
	slices.Sort(uids)
	return uids
}

func (c *cluster) selector(name string) map[string]string {
	c.t.Helper()
	svc, err := c.client.CoreV1().Services(testNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return svc.Spec.Selector
}

func image(dep *appsv1.Deployment) string { return dep.Spec.Template.Spec.Containers[0].Image }

func deployment(name string, replicas int32, labels map[string]string, img string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: img}}},
			},
		},
	}
}

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec:       corev1.ServiceSpec{Selector: selector},
	}
}
