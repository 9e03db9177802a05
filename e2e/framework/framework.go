//go:build e2e

// Package framework is the harness of Slipway's end-to-end tests: it starts
// the local stack (e2e/stack/up.sh) when it is not running, hands out
// Kubernetes and Tekton clients for it, one namespace per test, condition
// waiters and failure dumps.
//
//	func TestMain(m *testing.M) { framework.Setup(m) }
//
// Environment:
//
//	E2E_KUBECONFIG    use this cluster instead of the local stack (nothing is started)
//	E2E_STACK_PARTS   parts up.sh starts when the stack is down (default: all)
//	E2E_KEEP=1        keep the namespaces of failed tests for inspection
package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Addresses and images of the local stack, as e2e/stack/env.sh and
// cluster.sh define them. Pods have no DNS: they use these IPs.
const (
	HostIP       = "10.244.0.1"
	Registry     = HostIP + ":5000"
	BuildkitAddr = "tcp://" + HostIP + ":1234"
	// PrometheusURL is the stack's Prometheus (prometheus.sh), which
	// scrapes the pods annotated prometheus.io/scrape: "true".
	PrometheusURL = "http://" + HostIP + ":9095"
	// BusyboxImage is imported into the node's containerd by cluster.sh.
	BusyboxImage = "stack.slipway.local/busybox:v1"
)

// Clients talk to the cluster under test.
type Clients struct {
	Config *rest.Config
	Kube   kubernetes.Interface
	Tekton tektonclient.Interface
}

var (
	mu      sync.Mutex
	clients *Clients
)

// Setup is the body of a TestMain: it makes sure the stack is up, connects
// to it, runs the tests and exits with their status.
func Setup(m *testing.M) {
	c, err := connect(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e setup: %v\n", err)
		os.Exit(1)
	}
	mu.Lock()
	clients = c
	mu.Unlock()
	os.Exit(m.Run())
}

// Get returns the clients Setup made; the test fails if Setup did not run.
func Get(t testing.TB) *Clients {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if clients == nil {
		t.Fatal("e2e framework: call framework.Setup(m) from TestMain")
	}
	return clients
}

// RepoRoot is the repository checkout this package was compiled from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// StackKubeconfig is the admin kubeconfig cluster.sh writes.
func StackKubeconfig() string {
	return filepath.Join(RepoRoot(), ".cache", "stack", "run", "kubeconfig")
}

func connect(ctx context.Context) (*Clients, error) {
	path := os.Getenv("E2E_KUBECONFIG")
	external := path != ""
	if !external {
		path = StackKubeconfig()
	}
	c, err := newClients(path)
	if err == nil {
		err = ready(ctx, c)
	}
	if err == nil && !external {
		err = stackProcessesAlive()
	}
	if err == nil {
		return c, nil
	}
	if external {
		return nil, fmt.Errorf("cluster of E2E_KUBECONFIG=%s: %w", path, err)
	}
	if err := startStack(ctx); err != nil {
		return nil, err
	}
	if c, err = newClients(path); err != nil {
		return nil, err
	}
	if err := ready(ctx, c); err != nil {
		return nil, fmt.Errorf("stack started but not ready: %w", err)
	}
	return c, nil
}

func newClients(kubeconfig string) (*Clients, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	// Tests create and poll many objects at once; the default 5 QPS would throttle them.
	cfg.QPS, cfg.Burst = 100, 200
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	tk, err := tektonclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("tekton client: %w", err)
	}
	return &Clients{Config: cfg, Kube: kube, Tekton: tk}, nil
}

// ready: the apiserver answers, a node is Ready and Tekton's CRDs are served.
func ready(ctx context.Context, c *Clients) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return fmt.Errorf("apiserver /readyz: %w", err)
	}
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	if !anyNodeReady(nodes.Items) {
		return fmt.Errorf("no node is Ready")
	}
	if _, err := c.Tekton.TektonV1().PipelineRuns("default").List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return fmt.Errorf("tekton.dev/v1 not served: %w", err)
	}
	return nil
}

func anyNodeReady(nodes []corev1.Node) bool {
	for _, n := range nodes {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
	}
	return false
}

// stackProcesses are the PID files cluster.sh records under .cache/stack/run.
var stackProcesses = []string{
	"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
	"containerd", "kubelet", "kube-proxy", "tekton-controller",
	// The NetworkPolicy enforcer (netpol.sh): without it the policies of
	// deploy/ are accepted and not enforced.
	"kube-router",
	// Prometheus and its pod discovery (prometheus.sh), for canary analysis.
	"prometheus", "podsd",
	// The Gateway API implementation (gateway.sh) the traffic tests go through.
	"traefik",
}

// stackProcessesAlive catches a half-dead stack (say, the Tekton controller
// exited) that the API checks alone would not: up.sh restarts what is missing.
func stackProcessesAlive() error {
	dir := filepath.Join(RepoRoot(), ".cache", "stack", "run")
	for _, name := range stackProcesses {
		b, err := os.ReadFile(filepath.Join(dir, name+".pid"))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("%s: bad PID file: %w", name, err)
		}
		// Signal 0 checks that the process exists without touching it.
		if err := syscall.Kill(pid, 0); err != nil {
			return fmt.Errorf("%s (pid %d) is not running: %w", name, pid, err)
		}
	}
	return nil
}

func startStack(ctx context.Context) error {
	script := filepath.Join(RepoRoot(), "e2e", "stack", "up.sh")
	cmd := exec.CommandContext(ctx, script, strings.Fields(os.Getenv("E2E_STACK_PARTS"))...)
	// up.sh reports progress on stderr; the tests' output is the place for it.
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "e2e: the stack is not running; starting it with %s\n", script)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("starting the stack (%s): %w", script, err)
	}
	return nil
}
