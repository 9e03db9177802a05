package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/bench/dispatch"
	"github.com/slipway-ci/slipway/bench/intake"
)

// postgresEnv names the server used by --engines postgres; hack/postgres.sh
// up exports it.
const postgresEnv = "SLIPWAY_TEST_POSTGRES_URL"

type options struct {
	slipway      string
	kubeconfig   string
	engines      []string
	events       int
	concurrency  []int
	rates        []float64
	workers      int
	sigterm      bool
	proxy        bool
	dispatchWait time.Duration
	out          string
	// triggers adds the Tekton Triggers rows: sink and interceptors are
	// its binaries, triggersConfig the Triggers module's config/ dir.
	triggers                           bool
	sink, interceptors, triggersConfig string
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("dispatchbench", flag.ContinueOnError)
	fs.StringVar(&o.slipway, "slipway", "", "path of the slipway binary to run (required)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the apiserver to measure against (. e2e/stack/env.sh sets $KUBECONFIG)")
	engines := fs.String("engines", "sqlite,postgres", "comma-separated stores: sqlite (a temp file) and postgres (a fresh database on $"+postgresEnv+")")
	fs.IntVar(&o.events, "events", 500, "pushes per burst")
	conc := fs.String("concurrency", "1,8,32", "comma-separated requests in flight; one closed-loop burst each (empty: none)")
	rates := fs.String("rate", "100,400", "comma-separated events/s; one open-loop burst each, requests started on schedule whatever the answers (empty: none)")
	fs.IntVar(&o.workers, "workers", 32, "Slipway's --dispatch-workers")
	fs.DurationVar(&o.dispatchWait, "dispatch-wait", -1, "Slipway's --dispatch-wait (negative: its default)")
	fs.BoolVar(&o.sigterm, "sigterm", true, "also run the SIGTERM/restart burst on each store")
	fs.BoolVar(&o.proxy, "proxy", false, "send Slipway's API requests through a counting, timing loopback proxy (an extra hop the floor does not take)")
	fs.BoolVar(&o.triggers, "triggers", true, "also measure a Tekton Triggers EventListener (installed and tuned) on the same apiserver, once per run")
	fs.StringVar(&o.sink, "triggers-sink", "bin/eventlistenersink", "path of Triggers' cmd/eventlistenersink (make bench-dispatch builds it from bench/triggers)")
	fs.StringVar(&o.interceptors, "triggers-interceptors", "bin/interceptors", "path of Triggers' cmd/interceptors")
	fs.StringVar(&o.triggersConfig, "triggers-config", "", "the config/ dir of the github.com/tektoncd/triggers module (required with --triggers; make bench-dispatch finds it with go mod download)")
	fs.StringVar(&o.out, "out", "", "Markdown file to write the results section into (replaced between markers, else appended); empty: stdout only")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.slipway == "" {
		return o, errors.New("--slipway is required (make bench-dispatch builds it)")
	}
	if o.kubeconfig == "" {
		return o, errors.New("no kubeconfig: give --kubeconfig or set $KUBECONFIG (. e2e/stack/env.sh)")
	}
	for e := range strings.SplitSeq(*engines, ",") {
		switch e = strings.TrimSpace(e); e {
		case "sqlite":
		case "postgres":
			if os.Getenv(postgresEnv) == "" {
				return o, fmt.Errorf("--engines postgres needs $%s (eval \"$(hack/postgres.sh up)\")", postgresEnv)
			}
		default:
			return o, fmt.Errorf("--engines: unknown engine %q: want sqlite or postgres", e)
		}
		o.engines = append(o.engines, e)
	}
	if o.events < 2 {
		return o, fmt.Errorf("--events must be at least 2, got %d", o.events)
	}
	if o.workers < 1 {
		return o, fmt.Errorf("--workers must be at least 1, got %d", o.workers)
	}
	for c := range strings.SplitSeq(*conc, ",") {
		if strings.TrimSpace(c) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("--concurrency: %q is not a positive number", c)
		}
		o.concurrency = append(o.concurrency, n)
	}
	for r := range strings.SplitSeq(*rates, ",") {
		if strings.TrimSpace(r) == "" {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || f <= 0 {
			return o, fmt.Errorf("--rate: %q is not a positive number", r)
		}
		o.rates = append(o.rates, f)
	}
	if len(o.concurrency) == 0 && len(o.rates) == 0 {
		return o, errors.New("--concurrency and --rate are both empty: nothing to measure")
	}
	if o.triggers && o.triggersConfig == "" {
		return o, errors.New("--triggers needs --triggers-config: the config/ dir of the Triggers module (or --triggers=false)")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	machine, err := intake.ThisMachine(intake.GitCommit())
	if err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", o.kubeconfig, err)
	}
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	sv, err := kc.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("apiserver version: %w", err)
	}
	dir, err := os.MkdirTemp("", "dispatchbench-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	when := time.Now()
	var results []dispatch.Result
	for _, engine := range o.engines {
		res, err := measure(ctx, o, engine, rc, dir)
		results = append(results, res)
		if err != nil {
			return fmt.Errorf("%s: %w (logs in %s)", engine, err, dir)
		}
		for _, r := range res.Rows {
			fmt.Fprintf(os.Stderr, "dispatchbench: %s %s: %s\n", engine, r.Load(), strings.Join(r.Met(), "; "))
		}
	}
	var trig *dispatch.TriggersResult
	if o.triggers {
		tr, err := dispatch.RunTriggers(ctx, dispatch.TriggersConfig{Sink: o.sink, Interceptors: o.interceptors, ConfigDir: o.triggersConfig,
			Rest: rc, Kubeconfig: o.kubeconfig, Events: o.events, Concurrency: o.concurrency, Rates: o.rates, Dir: dir})
		if err != nil {
			return fmt.Errorf("triggers: %w (logs in %s)", err, dir)
		}
		trig = &tr
	}
	if machine.LoadAfter, err = intake.LoadAverage(); err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "## Dispatch: signed GitHub push → PipelineRun visible, against the client-go floor (%s)\n\n", when.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s, %d MiB memory; %s; commit %s; kube-apiserver %s (local stack, shared with other work), Tekton Pipelines controller v1.15.1 (TEKTON_VERSION of e2e/stack/lib.sh)\n",
		machine.CPUs, machine.CPUModel, machine.MemoryMiB, machine.Go, machine.Commit, sv.GitVersion)
	fmt.Fprintf(&b, "- Load average (1/5/15 min): %s before, %s after\n", machine.LoadBefore, machine.LoadAfter)
	fmt.Fprintf(&b, "- %d pushes per burst. Load c=N: closed loop, N senders each sending its next push when answered (saturation; latency is mostly queueing once Slipway or the floor falls behind). Load open R/s: a push starts every 1/R s whatever the answers, latency from its scheduled start (no coordinated omission). Slipway ran as a `slipway serve` subprocess with --dispatch-workers %d, %s, default --kube-qps/--kube-burst, --install-pipelines=false in a fresh `bench-dispatch-*` namespace (the floor in another, so Slipway's reporter ignores its runs) whose slipway-ci Pipeline needs a parameter no run passes, so Tekton fails each run in one reconcile and starts no pod. `.slipway.yaml` reads are real HTTP calls to an in-process fakescm (GitHub API; answers 404, so defaults apply). Before each burst the bench waits (at most 5 s) for Tekton's controller to reconcile the runs of the bursts before, and an engine's namespaces are gone before the next engine starts.\n", o.events, o.workers, waitNote(o.dispatchWait))
	b.WriteString("- floor: the same PipelineRuns (built beforehand with pkg/tekton.NewCIRun) created with client-go (QPS unlimited), c in flight; its \"create\" column is Create's round trip. visible: request start → ADDED on a watch opened before the bursts. lost: accepted (2xx / created) but never seen (30 s without a new run ends the wait); dup: more than one PipelineRun for one push. Slipway CPU is the process's user+system time during its burst and wait; RSS is its VmHWM.\n")
	if trig != nil {
		fmt.Fprintf(&b, triggersNote, triggersVersion(o.triggersConfig))
	}
	b.WriteString("- bad signature →: the status answered to one push signed with the wrong secret, sent just before the burst, and whether a PipelineRun was made from it.\n\n")
	if err := dispatch.WriteTable(&b, results, trig); err != nil {
		return err
	}
	if _, err := stdout.Write(b.Bytes()); err != nil {
		return err
	}
	if o.out != "" {
		if err := intake.UpdateResults(o.out, dispatch.BeginMarker, dispatch.EndMarker, b.String()); err != nil {
			return err
		}
	}
	return os.RemoveAll(dir)
}

// measure runs one engine on a fresh store.
func measure(ctx context.Context, o options, engine string, rc *rest.Config, dir string) (dispatch.Result, error) {
	cfg := dispatch.Config{Slipway: o.slipway, Rest: rc, Kubeconfig: o.kubeconfig, Proxy: o.proxy, Engine: engine, Events: o.events, Concurrency: o.concurrency, Rates: o.rates,
		Workers: o.workers, DispatchWait: o.dispatchWait, SIGTERM: o.sigterm, Dir: dir}
	switch engine {
	case "sqlite":
		cfg.Store = "sqlite://" + filepath.Join(dir, "slipway-"+engine+".db")
	case "postgres":
		u, drop, err := freshDatabase(ctx, os.Getenv(postgresEnv))
		if err != nil {
			return dispatch.Result{Engine: engine}, err
		}
		defer drop()
		cfg.Store = u
	}
	return dispatch.Run(ctx, cfg)
}

// freshDatabase creates an empty database on the server of base and
// returns its URL and a func that drops it.
func freshDatabase(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("postgres URL: %w", err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("database name: %w", err)
	}
	name := "dispatchbench_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() {
		dctx := context.WithoutCancel(ctx)
		c, err := pgx.Connect(dctx, base)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dispatchbench: drop database %s: %v\n", name, err)
			return
		}
		defer c.Close(dctx)
		if _, err := c.Exec(dctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "dispatchbench: drop database %s: %v\n", name, err)
		}
	}
	fresh := *u
	fresh.Path = "/" + name
	return fresh.String(), drop, nil
}

func waitNote(d time.Duration) string {
	if d < 0 {
		return "its default --dispatch-wait (a webhook answer waits for its PipelineRun's create, at most 2s)"
	}
	if d == 0 {
		return "--dispatch-wait 0 (webhooks answered once the event is recorded)"
	}
	return "--dispatch-wait " + d.String()
}

// triggersNote says how the Triggers rows were made.
const triggersNote = "- triggers: Tekton Triggers %s (bench/triggers/go.mod), its `cmd/eventlistenersink` and `cmd/interceptors` run out of cluster as processes against the same apiserver with the bench's kubeconfig, args and env as the Triggers controller renders them (no Triggers controller runs; the bench sets the ClusterInterceptors' status.address.url to the local interceptors). The core `github` ClusterInterceptor over HTTPS (a CA and certificate the bench makes) with `secretRef` and `eventTypes: [push]`; a TriggerBinding and TriggerTemplate make the floor's v1 PipelineRun (same Pipeline, params, labels; image-tag is the full SHA and the event-id label Triggers' event id). Measured once per run, not per store, in its own namespace with its own floor before each burst: \"installed\" is the sink as rendered (client-go's default QPS 5, burst 10), \"tuned\" adds KUBE_API_QPS=1000 KUBE_API_BURST=2000 to its environment. Its 2xx is the sink's answer (it answers before the interceptor runs); CPU and RSS are the sink's and the interceptors' together.\n"

// triggersVersion reads the Triggers version from its config dir's path in
// the module cache (…/triggers@v0.37.0/config), the version that was built.
func triggersVersion(configDir string) string {
	if _, v, ok := strings.Cut(filepath.Base(filepath.Dir(filepath.Clean(configDir))), "@"); ok {
		return v
	}
	return "(version unknown: --triggers-config is not in the module cache)"
}
