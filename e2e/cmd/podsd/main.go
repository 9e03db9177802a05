// Command podsd gives the local stack's Prometheus its scrape targets: it
// watches the cluster's pods and writes them to a file_sd_configs file in
// the shape of Prometheus' own kubernetes_sd_configs role pod (one target
// per declared container port, or per container without ports, at the
// pod's IP, with the same __meta_kubernetes_* labels), so the usual
// relabelling on the prometheus.io/scrape annotation applies unchanged.
//
// Debian's prometheus package is built without Kubernetes discovery (it
// would need client-go), so the stack runs Debian's Prometheus with this
// beside it; a Prometheus with kubernetes_sd_configs needs none of it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// group is one entry of a file_sd file.
type group struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

const meta = "__meta_kubernetes_"

var notLabelChar = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// sanitize makes a Kubernetes label or annotation name a Prometheus label
// name suffix, as kubernetes_sd does (slipway.dev/track → slipway_dev_track).
func sanitize(s string) string { return notLabelChar.ReplaceAllString(s, "_") }

// targets are the scrape targets of pods, sorted by namespace and name. A
// pod without an IP (not scheduled or started yet) has none.
func targets(pods []*corev1.Pod) []group {
	pods = slices.Clone(pods)
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	out := []group{}
	for _, p := range pods {
		if p.Status.PodIP == "" {
			continue
		}
		base := podLabels(p)
		for _, c := range p.Spec.Containers {
			cl := map[string]string{
				meta + "pod_container_name":  c.Name,
				meta + "pod_container_image": c.Image,
				meta + "pod_container_init":  "false",
			}
			if len(c.Ports) == 0 {
				// No port: the address is the IP alone; a relabelling
				// (prometheus.io/port) supplies the port.
				out = append(out, group{Targets: []string{p.Status.PodIP}, Labels: merge(base, cl)})
				continue
			}
			for _, port := range c.Ports {
				pl := merge(base, cl)
				pl[meta+"pod_container_port_name"] = port.Name
				pl[meta+"pod_container_port_number"] = strconv.Itoa(int(port.ContainerPort))
				pl[meta+"pod_container_port_protocol"] = string(port.Protocol)
				addr := p.Status.PodIP + ":" + strconv.Itoa(int(port.ContainerPort))
				out = append(out, group{Targets: []string{addr}, Labels: pl})
			}
		}
	}
	return out
}

// podLabels are the pod-level meta labels kubernetes_sd gives every target.
func podLabels(p *corev1.Pod) map[string]string {
	l := map[string]string{
		meta + "namespace":     p.Namespace,
		meta + "pod_name":      p.Name,
		meta + "pod_ip":        p.Status.PodIP,
		meta + "pod_ready":     string(podReady(p)),
		meta + "pod_phase":     string(p.Status.Phase),
		meta + "pod_node_name": p.Spec.NodeName,
		meta + "pod_host_ip":   p.Status.HostIP,
		meta + "pod_uid":       string(p.UID),
	}
	for k, v := range p.Labels {
		l[meta+"pod_label_"+sanitize(k)] = v
		l[meta+"pod_labelpresent_"+sanitize(k)] = "true"
	}
	for k, v := range p.Annotations {
		l[meta+"pod_annotation_"+sanitize(k)] = v
		l[meta+"pod_annotationpresent_"+sanitize(k)] = "true"
	}
	if c := metav1.GetControllerOf(p); c != nil {
		l[meta+"pod_controller_kind"] = c.Kind
		l[meta+"pod_controller_name"] = c.Name
	}
	return l
}

func podReady(p *corev1.Pod) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// write replaces path with gs when they differ from what it holds, through
// a rename in the same directory: Prometheus never reads half a file.
func write(path string, gs []group) (bool, error) {
	data, err := json.MarshalIndent(gs, "", "  ")
	if err != nil {
		return false, err
	}
	data = append(data, '\n')
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return false, err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Readable by a Prometheus running as another user.
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name()) // best effort: the error below says what failed
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	return true, nil
}

// run writes the targets of the pods lister holds to out each time changed
// signals, at most every settle, until ctx ends.
func run(ctx context.Context, lister listersv1.PodLister, changed <-chan struct{}, out string, settle time.Duration, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		// A rollout changes many pods at once: one write for the burst.
		select {
		case <-ctx.Done():
			return
		case <-time.After(settle):
		}
		pods, err := lister.List(labels.Everything())
		if err != nil {
			log.Warn("listing pods", "err", err)
			continue
		}
		gs := targets(pods)
		if wrote, err := write(out, gs); err != nil {
			log.Warn("writing targets", "err", err)
		} else if wrote {
			log.Info("targets written", "targets", len(gs), "pods", len(pods))
		}
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (needs get, list, watch on pods)")
	out := flag.String("out", "", "file_sd file to write (required)")
	settle := flag.Duration("settle", 200*time.Millisecond, "wait after a change before writing, to write a burst of changes once")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *out == "" {
		fmt.Fprintln(os.Stderr, "podsd: --out is required")
		os.Exit(2)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podsd: kubeconfig: %v\n", err)
		os.Exit(1)
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "podsd: client: %v\n", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The informer relists and rewatches by itself, across apiserver restarts.
	f := informers.NewSharedInformerFactory(kc, 0)
	inf := f.Core().V1().Pods()
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}); err != nil {
		fmt.Fprintf(os.Stderr, "podsd: %v\n", err)
		os.Exit(1)
	}
	f.Start(ctx.Done())
	log.Info("watching pods", "out", *out)
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return
	}
	// An empty cluster still gets a file, so Prometheus finds one.
	poke()
	run(ctx, inf.Lister(), changed, *out, *settle, log)
}
