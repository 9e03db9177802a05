package testreport

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// The unit-test Task's report step prints its summary as one line of the
// step log, after this marker; the server reads it from the saved log.
// A log, not a Task result: results are capped at a few KiB per TaskRun,
// a failure's output alone can be more, while step logs are saved whole up
// to the collector's cap (1 MiB by default).
const summaryMarker = "##slipway-test-report/v1## "

// MaxSummary bounds the summary line, well under the log collector's
// default cap so a whole summary is what gets saved.
const MaxSummary = 512 << 10

// summaryOutput bounds a failure's output inside the summary.
const summaryOutput = 4 << 10

// WriteSummary writes r as the summary line: failed cases first, then
// skipped, then passed, as many as fit in MaxSummary (Truncated says when
// some did not).
func WriteSummary(w io.Writer, r *Report) error {
	cases := append([]Case(nil), r.Cases...)
	SortCases(cases)
	out := Report{Truncated: r.Truncated, Cases: []Case{}}
	size := len(summaryMarker) + 64
	for _, c := range cases {
		c.Output = clip(c.Output, summaryOutput, true)
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encoding test case: %w", err)
		}
		if size+len(b)+1 > MaxSummary {
			out.Truncated = true
			break
		}
		size += len(b) + 1
		out.Cases = append(out.Cases, c)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encoding test report: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s%s\n", summaryMarker, b)
	return err
}

// ReadSummary finds the last summary line in a step log and decodes it.
// A log without one is ErrNoReport; a damaged one is an error saying so.
func ReadSummary(log string) (*Report, error) {
	i := strings.LastIndex(log, summaryMarker)
	if i < 0 {
		return nil, ErrNoReport
	}
	line := log[i+len(summaryMarker):]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	var raw Report
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		return nil, fmt.Errorf("reading the test report summary: %w", err)
	}
	rep := &Report{Truncated: raw.Truncated}
	for _, c := range raw.Cases {
		if !c.Status.Valid() {
			return nil, fmt.Errorf("reading the test report summary: test %q has status %q", c.Name, c.Status)
		}
		if c.Time < 0 {
			c.Time = 0
		}
		rep.add(c)
	}
	return rep, nil
}

// MaxFiles bounds the report files Gather reads.
const MaxFiles = 1000

// Gather reads every JUnit file under fsys that a toolchain writes by
// itself or a test command dropped in dirs: *.xml (and Node's TAP, *.tap)
// directly in each of dirs, Maven Surefire's and Failsafe's target/*-reports/TEST-*.xml and
// Gradle's build/test-results/*/TEST-*.xml at any depth (multi-module
// builds), skipping .git and node_modules. A file that cannot be read or
// parsed is reported in problems and the others still count.
func Gather(fsys fs.FS, dirs ...string) (rep *Report, files []string, problems []error) {
	rep = &Report{}
	seen := map[string]bool{}
	read := func(name string) {
		if seen[name] || len(files) >= MaxFiles {
			return
		}
		seen[name] = true
		f, err := fsys.Open(name)
		if err != nil {
			problems = append(problems, err)
			return
		}
		defer func() { _ = f.Close() }() // read-only: nothing to lose on close
		var r *Report
		if base := path.Base(name); strings.HasSuffix(base, ".tap") {
			r, err = ParseTAP(f, strings.TrimSuffix(base, ".tap"))
		} else {
			r, err = ParseJUnit(bufio.NewReader(f))
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", name, err))
			return
		}
		files = append(files, name)
		rep.Merge(r)
	}
	for _, d := range dirs {
		for _, pattern := range []string{"*.xml", "*.tap"} {
			ms, err := fs.Glob(fsys, path.Join(d, pattern))
			if err != nil {
				problems = append(problems, err)
			}
			for _, m := range ms {
				read(m)
			}
		}
	}
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrPermission) {
				problems = append(problems, err)
			}
			return nil
		}
		if e.IsDir() {
			if n := e.Name(); n == ".git" || n == "node_modules" {
				return fs.SkipDir
			}
			return nil
		}
		dir, base := path.Split(p)
		if !strings.HasPrefix(base, "TEST-") || !strings.HasSuffix(base, ".xml") {
			return nil
		}
		parent := path.Base(dir)
		grand := path.Base(path.Dir(path.Clean(dir)))
		if parent == "surefire-reports" || parent == "failsafe-reports" || path.Base(path.Dir(path.Dir(path.Clean(dir)))) == "build" && grand == "test-results" {
			read(p)
		}
		return nil
	})
	if err != nil {
		problems = append(problems, err)
	}
	return rep, files, problems
}
