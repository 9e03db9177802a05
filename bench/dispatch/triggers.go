package dispatch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// TriggersConfig is the Tekton Triggers measurement: an EventListener sink
// and the core interceptors, run as processes out of cluster against the
// apiserver, fed the same pushes as Slipway.
type TriggersConfig struct {
	// Sink and Interceptors are the paths of Triggers'
	// cmd/eventlistenersink and cmd/interceptors binaries.
	Sink, Interceptors string
	// ConfigDir is the config/ directory of the Triggers module, whose
	// CRDs, config maps and ClusterInterceptors the bench applies.
	ConfigDir string
	// Rest reaches the apiserver (the bench's and the floor's client);
	// Kubeconfig is the same for the Triggers processes.
	Rest        *rest.Config
	Kubeconfig  string
	Events      int
	Concurrency []int
	Rates       []float64
	// Dir holds the processes' logs.
	Dir string
	// Quiet is how long without a new PipelineRun ends the wait for the
	// rest of a burst. Default 30 s.
	Quiet time.Duration
}

// TriggersRow is one load level of one sink variant: the floor, then the
// EventListener.
type TriggersRow struct {
	// Variant is "installed" (client-go's default QPS and burst, as the
	// controller renders the sink) or "tuned".
	Variant     string
	Concurrency int
	Rate        float64
	Floor       Stats
	Triggers    Stats
	// CPU is the sink's and the interceptors' CPU time during the burst;
	// PeakRSSKiB the sum of their largest resident sets so far.
	CPU        time.Duration
	PeakRSSKiB int64
	// BadSignature is the status the sink answered a push signed with the
	// wrong secret, sent just before the burst; BadSignatureRun whether a
	// PipelineRun was made from it all the same.
	BadSignature    int
	BadSignatureRun bool
}

// Load names the row's load like Row.Load.
func (r TriggersRow) Load() string { return Row{Concurrency: r.Concurrency, Rate: r.Rate}.Load() }

// TriggersResult is the Triggers measurement.
type TriggersResult struct {
	Rows []TriggersRow
	// Namespace held the EventListener and its runs (deleted afterwards).
	Namespace string
}

// sinkVariant is one way the sink runs: extra is added to its environment
// as a user would in the EventListener's pod template.
type sinkVariant struct {
	name  string
	extra []string
}

var sinkVariants = []sinkVariant{
	{"installed", nil},
	{"tuned", []string{"KUBE_API_QPS=1000", "KUBE_API_BURST=2000"}},
}

// triggersConfigFiles are what the bench applies from Triggers' config/:
// the CRDs, the config maps the sink and the interceptors read, and the
// core ClusterInterceptors. Not the RBAC (the processes use the bench's
// kubeconfig), the controller, webhook or their Deployments (no Triggers
// controller runs: the bench starts the processes the controller's pods
// would run) nor the interceptors' empty TLS secret (the bench makes its
// own).
var (
	triggersCRDs = []string{"300-clusterinterceptor.yaml", "300-clustertriggerbinding.yaml", "300-eventlistener.yaml",
		"300-interceptor.yaml", "300-trigger.yaml", "300-triggerbinding.yaml", "300-triggertemplate.yaml"}
	triggersConfigMaps = []string{"config-defaults-triggers.yaml", "config-feature-flags.yaml", "config-info.yaml",
		"config-logging.yaml", "config-observability.yaml"}
	triggersInterceptors = "interceptors/core-interceptors.yaml"
)

// RunTriggers measures Tekton Triggers once per bench, not per store: it
// does not use Slipway's store, and its installed sink drains at about
// 5 runs/s, so a second pass would add minutes and measure nothing new.
// The CRDs and ClusterInterceptors it applies stay installed (cluster
// scoped, like the stack's Tekton); everything else lives in a fresh
// namespace deleted at the end.
func RunTriggers(ctx context.Context, cfg TriggersConfig) (res TriggersResult, err error) {
	switch {
	case cfg.Sink == "" || cfg.Interceptors == "" || cfg.ConfigDir == "" || cfg.Rest == nil || cfg.Kubeconfig == "" || cfg.Dir == "":
		return res, errors.New("triggers bench: binaries, config dir, rest config, kubeconfig and dir are required")
	case cfg.Events < 2:
		return res, fmt.Errorf("triggers bench: events must be at least 2, got %d", cfg.Events)
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = 30 * time.Second
	}
	floorCfg := unlimited(cfg.Rest)
	tc, kc, err := floorClients(floorCfg)
	if err != nil {
		return res, err
	}
	dyn, err := dynamic.NewForConfig(floorCfg)
	if err != nil {
		return res, fmt.Errorf("dynamic client: %w", err)
	}

	crds, err := readManifests(cfg.ConfigDir, triggersCRDs...)
	if err != nil {
		return res, err
	}
	cms, err := readManifests(cfg.ConfigDir, triggersConfigMaps...)
	if err != nil {
		return res, err
	}
	cis, err := readManifests(cfg.ConfigDir, triggersInterceptors)
	if err != nil {
		return res, err
	}
	if err := apply(ctx, dyn, crds); err != nil {
		return res, err
	}
	if err := waitEstablished(ctx, dyn, crds); err != nil {
		return res, err
	}
	if err := apply(ctx, dyn, cis); err != nil {
		return res, err
	}

	ns, err := benchNamespace(ctx, kc, "triggers")
	if err != nil {
		return res, err
	}
	res.Namespace = ns
	defer func() { err = errors.Join(err, deleteNamespace(ctx, kc, ns)) }()
	floorNS, err := benchNamespace(ctx, kc, "triggers-floor")
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, deleteNamespace(ctx, kc, floorNS)) }()

	// The config maps live in the bench namespace, which is the
	// interceptors' SYSTEM_NAMESPACE here (tekton-pipelines when installed).
	data := map[string]map[string]string{}
	for _, cm := range cms {
		cm.SetNamespace(ns)
		d, _, _ := unstructured.NestedStringMap(cm.Object, "data")
		data[cm.GetName()] = d
	}
	if err := apply(ctx, dyn, cms); err != nil {
		return res, err
	}
	svc := interceptorSvc + "." + ns
	tlsm, err := interceptorTLS([]string{svc + ".svc", interceptorSvc, svc, svc + ".svc.cluster.local", "localhost"},
		[]net.IP{net.IPv4(127, 0, 0, 1)}, time.Now())
	if err != nil {
		return res, err
	}
	ds, fx, err := pushDeliveries(1, []byte(secret), "triggers-template")
	if err != nil {
		return res, err
	}
	pr, err := tekton.NewCIRun(floorEvent(ds[0], fx, 1), &repoconfig.Config{}, benchRunOptions(ns))
	if err != nil {
		return res, fmt.Errorf("template PipelineRun: %w", err)
	}
	user, err := triggersObjects(ns, pr, secret)
	if err != nil {
		return res, err
	}
	if err := apply(ctx, dyn, append([]*unstructured.Unstructured{interceptorTLSSecret(ns, tlsm)}, user...)); err != nil {
		return res, err
	}
	seen, stopWatch, err := watchedNamespaces(ctx, tc, ns, floorNS)
	if err != nil {
		return res, err
	}
	defer stopWatch()

	ic, err := startInterceptors(ctx, dyn, cfg, ns, tlsm, cis)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, ic.stop(5*time.Second)) }()

	client := benchClient()
	for _, v := range sinkVariants {
		rows, err := sinkRun(ctx, cfg, v, ns, floorNS, data, ic, client, tc, seen)
		res.Rows = append(res.Rows, rows...)
		if err != nil {
			return res, fmt.Errorf("triggers %s: %w", v.name, err)
		}
	}
	return res, nil
}

// startInterceptors starts the core interceptors with the bench's
// certificate and waits until they serve it and have written its CA into
// every ClusterInterceptor (the sink starts only then). With no Triggers
// controller to resolve the ClusterInterceptors' Service, the bench sets
// each one's status.address.url as the controller would, to the local
// process.
func startInterceptors(ctx context.Context, dyn dynamic.Interface, cfg TriggersConfig, ns string, tlsm tlsMaterial, cis []*unstructured.Unstructured) (*child, error) {
	// cmd/interceptors listens on :8443, whatever its flags say.
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(interceptorPort))
	if err != nil {
		return nil, fmt.Errorf("the Triggers interceptors need port %d: %w", interceptorPort, err)
	}
	ln.Close()
	ic, err := startChild(cfg.Interceptors, []string{"-logtostderr", "-stderrthreshold", "INFO"}, interceptorsEnv(ns, cfg.Kubeconfig),
		filepath.Join(cfg.Dir, "triggers-interceptors.log"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(tlsm.CACert)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://127.0.0.1:" + strconv.Itoa(interceptorPort)
	if err := ic.waitFor(ctx, "serving /ready with the bench's certificate", time.Minute, func() bool {
		resp, err := hc.Get(base + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return ic, errors.Join(err, ic.stop(time.Second))
	}
	ca := base64.StdEncoding.EncodeToString(tlsm.CACert)
	for _, ci := range cis {
		if err := ic.waitFor(ctx, "writing its CA into ClusterInterceptor "+ci.GetName(), time.Minute, func() bool {
			got, err := dyn.Resource(ciGVR).Get(ctx, ci.GetName(), metav1.GetOptions{})
			if err != nil {
				return false
			}
			b, _, _ := unstructured.NestedString(got.Object, "spec", "clientConfig", "caBundle")
			return b == ca
		}); err != nil {
			return ic, errors.Join(err, ic.stop(time.Second))
		}
		patch := fmt.Appendf(nil, `{"status":{"address":{"url":%q}}}`, base+"/"+ci.GetName())
		if _, err := dyn.Resource(ciGVR).Patch(ctx, ci.GetName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}, "status"); err != nil {
			return ic, errors.Join(fmt.Errorf("setting ClusterInterceptor %s's address: %w", ci.GetName(), err), ic.stop(time.Second))
		}
	}
	return ic, nil
}

// sinkRun starts the sink as variant v, waits until a warm-up push makes
// its run, measures every load level against the floor, and stops it.
func sinkRun(ctx context.Context, cfg TriggersConfig, v sinkVariant, ns, floorNS string, data map[string]map[string]string,
	ic *child, client *http.Client, tc versioned.Interface, seen *sightings) (rows []TriggersRow, err error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	_, mport, _ := net.SplitHostPort(metrics)
	p, _ := strconv.Atoi(port)
	mp, _ := strconv.Atoi(mport)
	args, env, err := sinkCommand(ns, p, mp, cfg.Kubeconfig, data["config-logging-triggers"], data["config-observability-triggers"], v.extra)
	if err != nil {
		return nil, err
	}
	sink, err := startChild(cfg.Sink, args, env, filepath.Join(cfg.Dir, "triggers-sink-"+v.name+".log"))
	if err != nil {
		return nil, err
	}
	// The sink ignores SIGTERM while it has work queued (seen with
	// v0.37.0); it is only stopped once every run was seen or lost.
	defer func() { err = errors.Join(err, sink.stop(5*time.Second)) }()
	url := "http://" + addr
	if err := sink.waitFor(ctx, "answering /live", time.Minute, func() bool {
		resp, err := http.Get(url + "/live")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return nil, err
	}
	// /live answers before the informers have synced: one push must make
	// its run before the clock starts.
	warm, _, err := pushDeliveries(1, []byte(secret), "triggers-warmup-"+v.name)
	if err != nil {
		return nil, err
	}
	if ok, err := post(ctx, client, url, warm[0]); !ok {
		return nil, fmt.Errorf("warm-up push: %w", err)
	}
	seen.waitAll(ctx, []string{warm[0].sha}, time.Minute)
	if _, ok := seen.at(warm[0].sha); !ok {
		return nil, fmt.Errorf("the sink made no PipelineRun for the warm-up push within a minute; see %s", sink.logPath)
	}

	runOpts := benchRunOptions(floorNS)
	for _, lv := range loadLevels(cfg.Concurrency, cfg.Rates) {
		row := TriggersRow{Variant: v.name, Concurrency: lv.concurrency, Rate: lv.rate}
		settleTekton(ctx, seen)
		if row.Floor, err = floorBurst(ctx, tc, lv, cfg.Events, runOpts, seen, cfg.Quiet); err != nil {
			return rows, err
		}
		ds, _, err := pushDeliveries(cfg.Events, []byte(secret), "triggers-"+v.name+"-"+lv.name)
		if err != nil {
			return rows, err
		}
		settleTekton(ctx, seen)
		bad, err := badSignature(ctx, client, url, "triggers-"+v.name+"-"+lv.name)
		if err != nil {
			return rows, err
		}
		before, err := readProcs(sink.pid(), ic.pid())
		if err != nil {
			return rows, err
		}
		answers := lv.run(len(ds), func(i int) (bool, error) { return post(ctx, client, url, ds[i]) })
		row.Triggers = measure(ctx, ds, answers, seen, cfg.Quiet)
		after, err := readProcs(sink.pid(), ic.pid())
		if err != nil {
			return rows, err
		}
		row.CPU, row.PeakRSSKiB = after.CPU-before.CPU, after.PeakKiB
		row.BadSignature, row.BadSignatureRun = bad.status, seen.runs(bad.sha) > 0
		rows = append(rows, row)
	}
	return rows, nil
}

// readProcs sums the CPU times and peak resident sets of pids.
func readProcs(pids ...int) (procStat, error) {
	var sum procStat
	for _, pid := range pids {
		ps, err := readProc(pid)
		if err != nil {
			return sum, err
		}
		sum.CPU += ps.CPU
		sum.RSSKiB += ps.RSSKiB
		sum.PeakKiB += ps.PeakKiB
	}
	return sum, nil
}

// child is a process the bench started, with its output in logPath.
type child struct {
	logPath string
	cmd     *exec.Cmd
	exited  chan error // receives Wait's result once, then is closed
	err     error      // Wait's result, once exited is closed
}

// startChild runs bin with exactly env (nil: the bench's own), so a
// Triggers process's environment is the one its controller would give it.
func startChild(bin string, args, env []string, logPath string) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", bin, err)
	}
	c := &child{logPath: logPath, cmd: exec.Command(bin, args...), exited: make(chan error)}
	c.cmd.Env = env
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// waitFor polls ready until it is true, the process exits, or timeout.
func (c *child) waitFor(ctx context.Context, what string, timeout time.Duration, ready func() bool) error {
	deadline := time.After(timeout)
	for !ready() {
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited before %s (%w); see %s", filepath.Base(c.cmd.Path), what, c.err, c.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%s not %s within %s; see %s", filepath.Base(c.cmd.Path), what, timeout, c.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// stop sends SIGTERM and, if the process is still there after grace,
// SIGKILL. How it exits is not the bench's concern: only that it is gone.
func (c *child) stop(grace time.Duration) error {
	select {
	case <-c.exited:
		return nil
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM %s: %w", c.cmd.Path, err)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(grace):
	}
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL %s: %w", c.cmd.Path, err)
	}
	<-c.exited
	return nil
}
