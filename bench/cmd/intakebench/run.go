package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/bench/intake"
)

// postgresEnv names the base URL used by --engines postgres; hack/postgres.sh
// up exports it.
const postgresEnv = "SLIPWAY_TEST_POSTGRES_URL"

type options struct {
	stores      []string
	events      int
	concurrency []int
	rates       []float64
	out         string
	cpuprofile  string
	aim         intake.Aim
}

func parse(args []string) (options, error) {
	o := options{aim: intake.Aim{P99: 5 * time.Millisecond, PerSecond: 500}}
	fs := flag.NewFlagSet("intakebench", flag.ContinueOnError)
	fs.Func("store", "a store to measure, repeatable: sqlite://DIR (a fresh file in a new directory under DIR; sqlite:// for the temp dir) or postgres://… (a fresh database is created on that server per burst)", func(s string) error {
		o.stores = append(o.stores, s)
		return nil
	})
	engines := fs.String("engines", "", "shorthand for --store: comma-separated sqlite (temp dir) and postgres ($"+postgresEnv+")")
	fs.IntVar(&o.events, "events", 500, "deliveries per burst")
	conc := fs.String("concurrency", "1,8,32", "comma-separated requests in flight; one burst each")
	rates := fs.String("rate", "", "comma-separated open-loop rates (events/s); one more burst each per store, over as many connections as the highest --concurrency; empty: none")
	fs.StringVar(&o.out, "out", "", "Markdown file to write the results section into (replaced between markers, else appended); empty: stdout only")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of all bursts to this file")
	fs.DurationVar(&o.aim.P99, "aim-p99", o.aim.P99, "p99 latency aim")
	fs.Float64Var(&o.aim.PerSecond, "aim-rate", o.aim.PerSecond, "throughput aim, events/s")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *engines != "" {
		for e := range strings.SplitSeq(*engines, ",") {
			switch strings.TrimSpace(e) {
			case "sqlite":
				o.stores = append(o.stores, "sqlite://")
			case "postgres":
				u := os.Getenv(postgresEnv)
				if u == "" {
					return o, fmt.Errorf("--engines postgres needs $%s (eval \"$(hack/postgres.sh up)\")", postgresEnv)
				}
				o.stores = append(o.stores, u)
			default:
				return o, fmt.Errorf("--engines: unknown engine %q: want sqlite or postgres", e)
			}
		}
	}
	if len(o.stores) == 0 {
		return o, errors.New("no store: give --store or --engines")
	}
	if o.events <= 0 {
		return o, fmt.Errorf("--events must be positive, got %d", o.events)
	}
	for c := range strings.SplitSeq(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("--concurrency: %q is not a positive number", c)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if *rates != "" {
		for r := range strings.SplitSeq(*rates, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
			if err != nil || v <= 0 {
				return o, fmt.Errorf("--rate: %q is not a positive number", r)
			}
			o.rates = append(o.rates, v)
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	o, err := parse(args)
	if err != nil {
		return err
	}
	machine, err := intake.ThisMachine(intake.GitCommit())
	if err != nil {
		return err
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	when := time.Now()
	var rows []intake.Row
	var loads []intake.Config
	for _, c := range o.concurrency {
		loads = append(loads, intake.Config{Events: o.events, Concurrency: c})
	}
	for _, r := range o.rates {
		loads = append(loads, intake.Config{Events: o.events, Concurrency: slices.Max(o.concurrency), Rate: r})
	}
	for _, s := range o.stores {
		for _, load := range loads {
			row, err := burst(ctx, s, load)
			if err != nil {
				return err
			}
			rows = append(rows, row)
			fmt.Fprintf(os.Stderr, "intakebench: %s %s: p99 %s, %.0f events/s, no loss: %v\n",
				row.Engine, row.Result.Load(), row.Result.P99, row.Result.PerSecond(), row.Result.NoLoss())
		}
	}
	if machine.LoadAfter, err = intake.LoadAverage(); err != nil {
		return err
	}
	var section bytes.Buffer
	if err := intake.WriteSection(&section, when, machine, rows, o.aim); err != nil {
		return err
	}
	if _, err := stdout.Write(section.Bytes()); err != nil {
		return err
	}
	if o.out != "" {
		if err := intake.UpdateResults(o.out, intake.BeginMarker, intake.EndMarker, section.String()); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if !r.Result.NoLoss() {
			return fmt.Errorf("%s %s lost events (see the table)", r.Engine, r.Result.Load())
		}
	}
	return nil
}

// burst measures one load on a fresh database of one store.
func burst(ctx context.Context, storeURL string, load intake.Config) (intake.Row, error) {
	engine, rest, _ := strings.Cut(storeURL, "://")
	var (
		fresh *intake.Fresh
		err   error
	)
	switch engine {
	case "sqlite":
		fresh, err = intake.FreshSQLite(ctx, rest)
	case "postgres", "postgresql":
		engine = "postgres"
		fresh, err = intake.FreshPostgres(ctx, storeURL)
	default:
		return intake.Row{}, fmt.Errorf("--store %q: want sqlite://DIR or postgres://…", engine+"://…")
	}
	if err != nil {
		return intake.Row{}, err
	}
	load.Store = fresh.Store
	res, err := intake.Run(ctx, load)
	if cerr := fresh.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return intake.Row{}, fmt.Errorf("%s %s: %w", engine, res.Load(), err)
	}
	return intake.Row{Engine: engine, Where: fresh.Where, Result: res}, nil
}
