package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/bench/intake"
	"github.com/slipway-ci/slipway/bench/push"
)

type options struct {
	samples    []string
	pushes     int
	timeout    time.Duration
	out        string
	kubeconfig string
	root       string
}

func parse(args []string, getenv func(string) string) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("pushbench", flag.ContinueOnError)
	samples := fs.String("samples", "go", "comma-separated samples to push, each to its own repository: "+strings.Join(push.Samples(), ", "))
	fs.IntVar(&o.pushes, "pushes", 5, "consecutive pushes per sample; the first is reported as cold, the others as warm (at least 2)")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "longest wait for one push to go green")
	fs.StringVar(&o.out, "out", "", "Markdown file to write the results section into (replaced between markers, else appended); empty: stdout only")
	fs.StringVar(&o.kubeconfig, "kubeconfig", getenv("KUBECONFIG"), "kubeconfig of the local stack (. e2e/stack/env.sh exports it)")
	fs.StringVar(&o.root, "root", ".", "the repository's root (the samples are under pkg/dockerfile/testdata/apps)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for s := range strings.SplitSeq(*samples, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(push.Samples(), s) {
			return o, fmt.Errorf("--samples: unknown sample %q: want some of %s", s, strings.Join(push.Samples(), ","))
		}
		if slices.Contains(o.samples, s) {
			return o, fmt.Errorf("--samples: %q twice", s)
		}
		o.samples = append(o.samples, s)
	}
	if o.pushes < 2 {
		return o, fmt.Errorf("--pushes must be at least 2 (one cold, then warm), got %d", o.pushes)
	}
	if o.timeout <= 0 {
		return o, fmt.Errorf("--timeout must be positive, got %s", o.timeout)
	}
	if o.kubeconfig == "" {
		return o, errors.New("no kubeconfig: give --kubeconfig or run `. e2e/stack/env.sh` first")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	o, err := parse(args, getenv)
	if err != nil {
		return err
	}
	stack, err := push.StackEnv(getenv)
	if err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", o.kubeconfig, err)
	}
	if stack.Kube, err = kubernetes.NewForConfig(rc); err != nil {
		return err
	}
	if stack.Tekton, err = versioned.NewForConfig(rc); err != nil {
		return err
	}
	machine, err := intake.ThisMachine(intake.GitCommit())
	if err != nil {
		return err
	}
	when := time.Now()
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	var results []push.SampleResult
	for _, s := range o.samples {
		r, err := push.Run(ctx, stack, push.Config{Sample: s, Root: o.root, Pushes: o.pushes, Timeout: o.timeout, Logf: logf})
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if machine.LoadAfter, err = intake.LoadAverage(); err != nil {
		return err
	}
	var section bytes.Buffer
	if err := push.WriteSection(&section, when, machine, results); err != nil {
		return err
	}
	if _, err := stdout.Write(section.Bytes()); err != nil {
		return err
	}
	if o.out != "" {
		return intake.UpdateResults(o.out, push.BeginMarker, push.EndMarker, section.String())
	}
	return nil
}
