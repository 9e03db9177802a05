// Command buildbench measures, per language template, a cold build, a
// rebuild after a source-only change and the image size, on a real
// buildkitd, and writes the table into the "Builds" section of
// bench/RESULTS.md. Run it with `make bench-build`; see bench/build/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-ci/slipway/e2e/builds"
	"github.com/slipway-ci/slipway/pkg/build"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "buildbench:", err)
		os.Exit(1)
	}
}

type options struct {
	out, apps, only, buildkitd, buildctl, work string
}

func run(ctx context.Context, args []string, log io.Writer) error {
	var o options
	fs := flag.NewFlagSet("buildbench", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "bench/RESULTS.md", "Markdown file whose Builds section is (re)written; empty prints it")
	fs.StringVar(&o.apps, "apps", "pkg/dockerfile/testdata/apps", "the sample apps")
	fs.StringVar(&o.only, "only", "", "comma-separated sample names (default: every sample buildable here)")
	fs.StringVar(&o.buildkitd, "buildkitd", ".cache/tools/buildkitd-v0.33.1", "buildkitd binary for the private cold daemons")
	fs.StringVar(&o.buildctl, "buildctl", ".cache/tools/buildctl-v0.33.1", "buildctl binary (readiness checks)")
	fs.StringVar(&o.work, "work", "", "scratch directory (default: a new one under $TMPDIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	registry := os.Getenv("SLIPWAY_REGISTRY")
	if registry == "" {
		return errors.New("SLIPWAY_REGISTRY must be set (eval \"$(e2e/stack/registry.sh up)\", then e2e/stack/images.sh base)")
	}
	for _, bin := range []*string{&o.buildkitd, &o.buildctl} {
		abs, err := filepath.Abs(*bin)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%w (e2e/stack/buildkit.sh up builds it)", err)
		}
		*bin = abs
	}
	if o.work == "" {
		w, err := os.MkdirTemp("", "buildbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(w)
		o.work = w
	}
	var only []string
	if o.only != "" {
		only = strings.Split(o.only, ",")
	}

	rep := report{Date: time.Now().UTC(), Machine: machine(), Commit: commit()}
	for _, s := range builds.Samples {
		if len(only) > 0 && !slices.Contains(only, s.Name) {
			continue
		}
		if s.Skip != "" {
			rep.Skipped = append(rep.Skipped, skipped{s.Name, s.Skip})
			continue
		}
		fmt.Fprintf(log, "buildbench: %s ...\n", s.Name)
		r, err := measure(ctx, o, registry, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		fmt.Fprintf(log, "buildbench: %s cold %s, rebuild %s, image %s\n", s.Name, secs(r.Cold), secs(r.Rebuild), mb(r.Size.Compressed))
		rep.Rows = append(rep.Rows, r)
	}
	section := rep.markdown()
	if o.out == "" {
		fmt.Print(section)
		return nil
	}
	return writeSection(o.out, section)
}

// measure builds s cold on a private, empty buildkitd, changes a source
// file, rebuilds on the same daemon, and sizes the rebuilt image.
func measure(ctx context.Context, o options, registry string, s builds.Sample) (row, error) {
	r := row{Name: s.Name, LoadBefore: loadAvg()}
	st := builds.Stack{Registry: registry}
	rc, err := s.RepoConfig(o.apps, 0)
	if err != nil {
		return r, err
	}
	dir := filepath.Join(o.work, s.Name, "src")
	if _, err := builds.Prepare(filepath.Join(o.apps, s.App), dir, rc, s.Options(st)); err != nil {
		return r, err
	}
	d, err := startDaemon(ctx, o.buildkitd, o.buildctl, filepath.Join(o.work, s.Name, "buildkitd"), registry)
	if err != nil {
		return r, err
	}
	defer func() {
		if err := d.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "buildbench: stopping the private buildkitd:", err)
		}
	}()
	b, closer, err := build.New(ctx, d.addr)
	if err != nil {
		return r, err
	}
	defer closer.Close()

	req := build.Request{
		ContextDir: dir, Dockerfile: filepath.Join(dir, ".slipway", "Dockerfile"),
		Image: registry + "/bench/" + s.Name + "-" + fmt.Sprint(time.Now().UnixNano()), Tag: "cold",
		SourceURL: "http://git.slipway.local/bench/" + s.Name + ".git", Revision: strings.Repeat("a", 40),
		Created: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), Insecure: true,
		// The registry cache is off for both builds: the cold build has
		// nothing to import, and the rebuild measures the daemon's own cache.
		NoCache: true,
	}
	t0 := time.Now()
	if _, err := b.Build(ctx, req); err != nil {
		return r, fmt.Errorf("cold build: %w", err)
	}
	r.Cold = time.Since(t0)

	if err := touchSource(filepath.Join(dir, filepath.FromSlash(s.Source))); err != nil {
		return r, err
	}
	req.Tag, req.Revision = "rebuild", strings.Repeat("b", 40)
	t0 = time.Now()
	res, err := b.Build(ctx, req)
	if err != nil {
		return r, fmt.Errorf("rebuild: %w", err)
	}
	r.Rebuild = time.Since(t0)
	r.LoadAfter = loadAvg()

	img, err := builds.PlatformImage(req.Image+"@"+res.Digest, true)
	if err != nil {
		return r, err
	}
	if r.Size, err = builds.ImageSize(img); err != nil {
		return r, err
	}
	if s.Name == "go" {
		if r.Binary, err = builds.FileSize(img, "/app"); err != nil {
			return r, err
		}
	}
	return r, nil
}

// touchSource changes a source file's content with a comment in its own
// syntax, as a commit that edits code but not dependencies would.
func touchSource(path string) error {
	stamp := fmt.Sprintf("buildbench change %d", time.Now().UnixNano())
	var line string
	switch filepath.Ext(path) {
	case ".go", ".java", ".js":
		line = "// " + stamp
	case ".py":
		line = "# " + stamp
	case ".html":
		line = "<!-- " + stamp + " -->"
	default:
		return fmt.Errorf("%s: no comment syntax known for this file type", path)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("changing the source: %w", err)
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		f.Close()
		return fmt.Errorf("changing the source: %w", err)
	}
	return f.Close()
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	n := 0
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(data), "\nprocessor") + 1
	}
	return fmt.Sprintf("%d vCPU %s%s", n, cpu, mem)
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil && len(st) > 0 {
		c += " + uncommitted changes"
	}
	return c
}
