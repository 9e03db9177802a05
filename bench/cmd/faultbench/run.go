package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/bench/faults"
	"github.com/slipway-ci/slipway/bench/intake"
)

type options struct {
	events         int
	redeliver      float64
	redeliverAfter int
	rate           float64
	replicas       int
	repos          int
	retries        int
	faults         bool
	apiDown        time.Duration
	faultGap       time.Duration
	settle         time.Duration
	drainTimeout   time.Duration
	namespace      string
	keep, restore  bool
	out            string
	root           string
	kubeconfig     string
	socket         string
}

func parse(args []string, getenv func(string) string) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("faultbench", flag.ContinueOnError)
	fs.IntVar(&o.events, "events", 10000, "webhooks to send in all, redeliveries included (try 1000 first)")
	fs.Float64Var(&o.redeliver, "redeliver", 0.05, "fraction of --events that redeliver an earlier delivery id")
	fs.IntVar(&o.redeliverAfter, "redeliver-after", 100, "how many sends after its original a redelivery goes")
	fs.Float64Var(&o.rate, "rate", 25, "webhooks started per second (open loop); the faults are placed over --events/--rate seconds")
	fs.IntVar(&o.replicas, "replicas", 3, "replicas of the HA deployment")
	fs.IntVar(&o.repos, "repos", 8, "repositories per host the events are spread over")
	fs.IntVar(&o.retries, "retries", 5, "times a refused webhook (no answer, 5xx, 408, 429) is delivered again, with backoff")
	fs.BoolVar(&o.faults, "faults", true, "inject the faults (false: the same stream without any, a baseline)")
	fs.DurationVar(&o.apiDown, "apiserver-down", 30*time.Second, "how long the kube-apiserver stays stopped")
	fs.DurationVar(&o.faultGap, "fault-gap", 20*time.Second, "least time between one fault's end and the next one's start")
	fs.DurationVar(&o.settle, "settle", 3*time.Minute, "after the stream, stop waiting once nothing new arrived for this long")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 20*time.Minute, "after the stream, wait at most this long for every run, status and notification")
	fs.StringVar(&o.namespace, "namespace", "bench-faults", "builds namespace Slipway gets for the run (made afresh)")
	fs.BoolVar(&o.keep, "keep", false, "keep the namespace and its PipelineRuns afterwards")
	fs.BoolVar(&o.restore, "restore", true, "put the stack's default deployment (one replica, SQLite) back afterwards")
	fs.StringVar(&o.out, "out", "", "Markdown file to write the results section into (replaced between markers, else appended); empty: stdout only")
	fs.StringVar(&o.root, "root", ".", "the repository's root (e2e/stack/*.sh, deploy/)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", getenv("KUBECONFIG"), "kubeconfig of the local stack (. e2e/stack/env.sh exports it)")
	fs.StringVar(&o.socket, "containerd-socket", "", "containerd's socket, to SIGKILL the leader's container (default: ROOT/.cache/stack/run/containerd/containerd.sock)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case o.events < 100:
		return o, fmt.Errorf("--events must be at least 100, got %d", o.events)
	case o.redeliver < 0 || o.redeliver >= 0.5:
		return o, fmt.Errorf("--redeliver must be in [0, 0.5), got %v", o.redeliver)
	case o.redeliverAfter < 1:
		return o, fmt.Errorf("--redeliver-after must be at least 1, got %d", o.redeliverAfter)
	case o.rate <= 0 || o.rate > 1000:
		return o, fmt.Errorf("--rate must be in (0, 1000], got %v", o.rate)
	case o.replicas < 2:
		return o, fmt.Errorf("--replicas must be at least 2 (a leader and a follower), got %d", o.replicas)
	case o.repos < 1 || o.repos > 64:
		return o, fmt.Errorf("--repos must be 1 to 64, got %d", o.repos)
	case o.retries < 0:
		return o, fmt.Errorf("--retries must not be negative, got %d", o.retries)
	case o.apiDown <= 0 || o.faultGap < 0 || o.settle <= 0 || o.drainTimeout <= 0:
		return o, errors.New("--apiserver-down, --settle and --drain-timeout must be positive, --fault-gap not negative")
	case o.namespace == "" || o.namespace == faults.BuildsNamespace || o.namespace == faults.SlipwayNamespace:
		return o, fmt.Errorf("--namespace must be a namespace of the bench's own (it is deleted), not %q", o.namespace)
	case o.kubeconfig == "":
		return o, errors.New("no kubeconfig: give --kubeconfig or run `. e2e/stack/env.sh` first")
	}
	if o.socket == "" {
		o.socket = filepath.Join(o.root, ".cache", "stack", "run", "containerd", "containerd.sock")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	o, err := parse(args, getenv)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("the fault run needs root, as the stack does (its scripts stop the apiserver and PostgreSQL; containerd kills the leader)")
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", o.kubeconfig, err)
	}
	rc.QPS, rc.Burst = 50, 100
	stack := &faults.Stack{Root: root, Socket: o.socket, HTTP: &http.Client{Timeout: time.Minute},
		Logf: func(format string, a ...any) {
			fmt.Fprintf(os.Stderr, "faultbench %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
		}}
	if stack.Kube, err = kubernetes.NewForConfig(rc); err != nil {
		return err
	}
	if stack.Tekton, err = versioned.NewForConfig(rc); err != nil {
		return err
	}
	if stack.Meta, err = metadata.NewForConfig(rc); err != nil {
		return err
	}
	machine, err := intake.ThisMachine(intake.GitCommit())
	if err != nil {
		return err
	}
	if machine.LoadBefore, err = intake.LoadAverage(); err != nil {
		return err
	}
	when := time.Now()
	redeliveries := int(o.redeliver * float64(o.events))
	res, err := faults.Run(ctx, faults.Config{
		Stack: stack, Namespace: o.namespace, Sends: o.events, Redeliveries: redeliveries, RedeliverAfter: o.redeliverAfter,
		Rate: o.rate, Replicas: o.replicas, Repos: o.repos, Retries: o.retries, Faults: o.faults,
		APIServerDown: o.apiDown, FaultGap: o.faultGap, Settle: o.settle, DrainTimeout: o.drainTimeout,
		Keep: o.keep, Restore: o.restore, Logf: stack.Logf,
	})
	if err != nil {
		return err
	}
	if machine.LoadAfter, err = intake.LoadAverage(); err != nil {
		return err
	}
	var section bytes.Buffer
	if err := faults.WriteSection(&section, when, machine, res); err != nil {
		return err
	}
	if _, err := stdout.Write(section.Bytes()); err != nil {
		return err
	}
	if o.out != "" {
		if err := intake.UpdateResults(o.out, faults.BeginMarker, faults.EndMarker, section.String()); err != nil {
			return err
		}
	}
	if !res.OK() {
		return fmt.Errorf("aim not met: %s", strings.Join(append(res.Totals.Problems(), faultErrors(res.Faults)...), "; "))
	}
	return nil
}

func faultErrors(fs []faults.Fault) []string {
	var out []string
	for _, f := range fs {
		if f.Err != nil {
			out = append(out, fmt.Sprintf("%s: %v", f.Kind, f.Err))
		}
	}
	return out
}
