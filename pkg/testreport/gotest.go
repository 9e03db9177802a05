package testreport

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// goEvent is one line of `go test -json` (cmd/test2json).
type goEvent struct {
	Action  string
	Package string
	// ImportPath names the package of build-output and build-fail
	// events (Go 1.24+), "pkg [pkg.test]" for a test variant.
	ImportPath string
	Test       string
	Elapsed    float64
	Output     string
}

// GoResult is what ConvertGoTest read.
type GoResult struct {
	Report *Report
	// Failed is true when a test or a package (a build) failed, or when
	// the stream held no test event at all: go test then failed before
	// testing (no module, no packages), and the step must fail too.
	Failed bool
}

// ConvertGoTest reads a `go test -json` stream (stdout and stderr merged)
// and writes what `go test -v` would have printed to text, so the step log
// reads as usual: events' output verbatim, other lines (build errors on
// stderr) as they come. A package that failed without a failing test (a
// build error, a panic in TestMain, a timeout) becomes a failed case named
// after the package, so the report never says green for a red run.
func ConvertGoTest(r io.Reader, text io.Writer) (*GoResult, error) {
	type key struct{ pkg, test string }
	var (
		order   []key
		cases   = map[key]*Case{}
		outputs = map[key]*tail{}
		failed  = map[string]bool{} // packages with a failed test
		res     = &GoResult{Report: &Report{}}
		events  int
	)
	get := func(k key) *Case {
		c := cases[k]
		if c == nil {
			c = &Case{Suite: k.pkg, Name: k.test}
			cases[k] = c
			outputs[k] = &tail{max: MaxOutput}
			order = append(order, k)
		}
		return c
	}
	sc := bufio.NewScanner(bounded(r))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev goEvent
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			if _, err := fmt.Fprintf(text, "%s\n", line); err != nil {
				return nil, err
			}
			continue
		}
		events++
		if ev.Package == "" {
			ev.Package, _, _ = strings.Cut(ev.ImportPath, " ")
		}
		if ev.Output != "" {
			if _, err := io.WriteString(text, ev.Output); err != nil {
				return nil, err
			}
		}
		// Package-level events: build output, the package's own verdict.
		k := key{ev.Package, ev.Test}
		if ev.Test == "" {
			k.test = ""
			if ev.Action == "output" || ev.Action == "build-output" {
				if c := cases[k]; c != nil || ev.Output != "" {
					get(k)
					outputs[k].WriteString(ev.Output)
				}
				continue
			}
			if ev.Action == "fail" || ev.Action == "build-fail" {
				res.Failed = true
				c := get(k)
				c.Status, c.Time = Failed, secondsF(ev.Elapsed)
			}
			continue
		}
		c := get(k)
		switch ev.Action {
		case "output":
			outputs[k].WriteString(ev.Output)
		case "pass":
			c.Status, c.Time = Passed, secondsF(ev.Elapsed)
		case "skip":
			c.Status, c.Time = Skipped, secondsF(ev.Elapsed)
		case "fail":
			c.Status, c.Time = Failed, secondsF(ev.Elapsed)
			failed[ev.Package] = true
			res.Failed = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading go test -json: %w", err)
	}
	if events == 0 {
		res.Failed = true
	}
	for _, k := range order {
		if c := cases[k]; k.test != "" && c.Status == "" {
			// Started, never finished: the binary died under it (panic,
			// timeout, os.Exit).
			c.Status = Failed
			failed[k.pkg] = true
			res.Failed = true
		}
	}
	for _, k := range order {
		c := cases[k]
		if k.test == "" {
			// The package's own line is a case only when it failed with
			// no failing test to show for it.
			if c.Status != Failed || failed[k.pkg] {
				continue
			}
			c.Name = "(package)"
		}
		if c.Status == Failed {
			c.Output = outputs[k].String()
		}
		res.Report.add(*c)
	}
	return res, nil
}

func secondsF(f float64) time.Duration {
	if f < 0 || f > 1e7 {
		return 0
	}
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond)
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	b   []byte
	cut bool
}

func (t *tail) WriteString(s string) {
	t.b = append(t.b, s...)
	if len(t.b) > 2*t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
		t.cut = true
	}
}

func (t *tail) String() string {
	s := strings.TrimRight(string(t.b), "\n")
	if t.cut {
		s = "…" + s
	}
	return s
}

// ErrNoReport is returned by ReadSummary when a log holds no summary.
var ErrNoReport = errors.New("no test report in the log")
