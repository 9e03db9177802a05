package push

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/slipway-ci/slipway/bench/intake"
)

// Section markers in RESULTS.md: the text between them is this program's.
const (
	BeginMarker = "<!-- pushbench:begin -->"
	EndMarker   = "<!-- pushbench:end -->"
)

// Aims of issue 20, warm pushes.
const (
	aimPending  = time.Second      // push → pending, p99 (the warm max here)
	aimTest     = 6 * time.Second  // push → unit-test step running, p50
	aimGreenGo  = 30 * time.Second // Go sample push → success, p50
	goSample    = "go"
	coldLabel   = "cold (1st)"
	missingCell = "—"
)

// SampleResult is one sample's pushes: the first (cold) and the rest.
type SampleResult struct {
	Sample string
	Repo   string
	Cold   Timeline
	Warm   []Timeline
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }

// WriteTable writes one sample's per-phase table.
func WriteTable(w io.Writer, r SampleResult) error {
	var b bytes.Buffer
	warm := Summarize(r.Warm)
	fmt.Fprintf(&b, "| %s: push → | %s s | warm p50 s | warm p90 s | warm max s | warm n | warm p50 since previous phase s |\n", r.Sample, coldLabel)
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|\n")
	for p := range numPhases {
		cold := missingCell
		if d, ok := r.Cold.At[p]; ok {
			cold = secs(d)
		}
		st, ok := warm[p]
		if !ok {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | 0 | %s |\n", p, cold, missingCell, missingCell, missingCell, missingCell)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %s |\n", p, cold, secs(st.P50), secs(st.P90), secs(st.Max), st.N, secs(st.StepP50))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Aims judges the warm pushes of a sample against issue 20's aims; the
// green aim is the Go sample's only.
func Aims(r SampleResult) []string {
	warm := Summarize(r.Warm)
	judge := func(name string, p Phase, got func(Stat) time.Duration, aim time.Duration) string {
		st, ok := warm[p]
		if !ok {
			return fmt.Sprintf("%s ≤ %s: **not measured**", name, aim)
		}
		met := "met"
		if got(st) > aim {
			met = "**not met**"
		}
		return fmt.Sprintf("%s ≤ %s: %s s, %s", name, aim, secs(got(st)), met)
	}
	out := []string{
		judge("push → `pending` (p99; the warm max here)", Pending, func(s Stat) time.Duration { return s.Max }, aimPending),
		judge("push → unit-test step running p50", TestRunning, func(s Stat) time.Duration { return s.P50 }, aimTest),
	}
	if r.Sample == goSample {
		out = append(out, judge("Go sample push → green p50", Success, func(s Stat) time.Duration { return s.P50 }, aimGreenGo))
	}
	return out
}

// WriteSection writes the whole measured section: where, when, how, and a
// table per sample.
func WriteSection(w io.Writer, when time.Time, m intake.Machine, results []SampleResult) error {
	var b bytes.Buffer
	b.WriteString("## Push to green (local stack)\n\n")
	fmt.Fprintf(&b, "- Run: %s; commit %s\n", when.UTC().Format("2006-01-02 15:04 MST"), m.Commit)
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s, %d MiB memory; %s\n", m.CPUs, m.CPUModel, m.MemoryMiB, m.Go)
	fmt.Fprintf(&b, "- Load average (1/5/15 min): %s before, %s after\n", m.LoadBefore, m.LoadAfter)
	b.WriteString("- How: each sample is pushed as consecutive commits to one repository on the fakescm (a comment line appended to a source file each time), each announced by a signed GitHub `push` webhook to Slipway and awaited until its `slipway/ci` status is `success`. The first push is reported apart (cold); the percentiles are over the others (warm). Every time is from the webhook being sent: the statuses from the fakescm's record of when each was posted, the rest from Tekton's objects (PipelineRun creationTimestamp, the pods' PodScheduled condition, the step's start as the entrypoint recorded it, build-push's completionTime). Kubernetes times are whole seconds, so those phases read up to 1 s early.\n")
	for _, r := range results {
		fmt.Fprintf(&b, "\n%s sample, %d pushes to %s:\n\n", r.Sample, 1+len(r.Warm), r.Repo)
		if err := WriteTable(&b, r); err != nil {
			return err
		}
		b.WriteString("\nAims (warm):\n\n")
		for _, a := range Aims(r) {
			fmt.Fprintf(&b, "- %s\n", a)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// ReplaceSection returns doc with this program's marked section replaced
// by section, or appended if doc has none; the rest of doc is kept.
func ReplaceSection(doc, section string) (string, error) {
	return intake.ReplaceMarked(doc, BeginMarker, EndMarker, section)
}
