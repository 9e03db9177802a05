package intake

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes where a measurement ran.
type Machine struct {
	CPUs      int
	CPUModel  string
	MemoryMiB int64
	Go        string
	Commit    string
	// LoadBefore and LoadAfter are /proc/loadavg's 1, 5 and 15 minute
	// averages; a loaded machine makes every number pessimistic.
	LoadBefore, LoadAfter string
}

// ThisMachine reads the CPU count, model and memory of this machine.
// commit is recorded as given.
func ThisMachine(commit string) (Machine, error) {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Commit: commit}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return m, fmt.Errorf("read /proc/cpuinfo: %w", err)
	}
	m.CPUModel = procField(cpuinfo, "model name")
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return m, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	var kb int64
	if _, err := fmt.Sscanf(procField(meminfo, "MemTotal"), "%d kB", &kb); err != nil {
		return m, fmt.Errorf("/proc/meminfo MemTotal: %w", err)
	}
	m.MemoryMiB = kb / 1024
	if m.LoadBefore, err = LoadAverage(); err != nil {
		return m, err
	}
	return m, nil
}

// LoadAverage returns the 1, 5 and 15 minute load averages.
func LoadAverage() (string, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "", fmt.Errorf("read /proc/loadavg: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "", fmt.Errorf("/proc/loadavg: %q", b)
	}
	return strings.Join(f[:3], " "), nil
}

// procField returns the value of the first "key : value" line.
func procField(b []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// Row is one burst on one engine.
type Row struct {
	Engine string
	Where  string
	Result Result
}

// WriteTable writes the results as a Markdown table, judged against aim.
func WriteTable(w io.Writer, rows []Row, aim Aim) error {
	var b strings.Builder
	b.WriteString("| engine | load | events | 202 | p50 ms | p90 ms | p99 ms | max ms | store p50 / p99 ms | events/s | CPU s | CPU ms/event | RSS MiB before → peak | loss | aim met |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	for _, row := range rows {
		r := row.Result
		loss := "none"
		if !r.NoLoss() {
			loss = fmt.Sprintf("**%d failed, %d lost, %d duplicated, %d queued of %d**", r.Failed, r.Lost, r.Duplicated, r.Queued, r.Events)
		}
		met := "yes"
		if !r.Met(aim) {
			met = "**no**"
		}
		perEvent := 0.0
		if r.Accepted > 0 {
			perEvent = ms(r.CPU) / float64(r.Accepted)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f / %.2f | %.0f | %.2f | %.2f | %.0f → %.0f | %s | %s |\n",
			row.Engine, r.Load(), r.Events, r.Accepted,
			ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max), ms(r.StoreP50), ms(r.StoreP99), r.PerSecond(),
			r.CPU.Seconds(), perEvent,
			float64(r.RSSBeforeKiB)/1024, float64(r.RSSPeakKiB)/1024, loss, met)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Load names how the burst was driven: c=N senders as fast as answered,
// or an open-loop rate.
func (r Result) Load() string {
	if r.Rate > 0 {
		return fmt.Sprintf("open %.0f/s", r.Rate)
	}
	return fmt.Sprintf("c=%d", r.Concurrency)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteSection writes the whole measured section: where, when, the table
// and where each store lived.
func WriteSection(w io.Writer, when time.Time, m Machine, rows []Row, aim Aim) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "## Intake: signed GitHub push → 202 (%s)\n\n", when.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s, %d MiB memory; %s; commit %s\n", m.CPUs, m.CPUModel, m.MemoryMiB, m.Go, m.Commit)
	fmt.Fprintf(&b, "- Load average (1/5/15 min): %s before, %s after", m.LoadBefore, m.LoadAfter)
	if heavy(m.LoadBefore, m.CPUs) || heavy(m.LoadAfter, m.CPUs) {
		b.WriteString(" — **the machine was busy with other work: these numbers are pessimistic**")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- Aim: p99 ≤ %s and ≥ %.0f events/s with no loss. Load c=N: N senders, each sending its next delivery when answered (saturation). Load open R/s: a delivery starts every 1/R s whatever the answers (latency at that offered load). Latency: request written → answer read, over keep-alive loopback TCP; the store column is RecordEvent alone (group commit included) as the handler sees it. CPU and RSS are the whole process, load generator included.\n", aim.P99, aim.PerSecond)
	b.WriteString("- Stores (fresh per burst):\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "  - %s %s: %s\n", row.Engine, row.Result.Load(), row.Where)
	}
	b.WriteString("\n")
	if err := WriteTable(&b, rows, aim); err != nil {
		return err
	}
	for _, row := range rows {
		for _, e := range row.Result.Errors {
			fmt.Fprintf(&b, "\n- %s %s error: `%s`", row.Engine, row.Result.Load(), e)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// heavy reports whether the 1-minute load in avg exceeds the CPU count.
func heavy(avg string, cpus int) bool {
	var one float64
	if _, err := fmt.Sscanf(avg, "%f", &one); err != nil {
		return false
	}
	return one > float64(cpus)
}

// Section markers in RESULTS.md: the text between them is the program's,
// the rest is the reader's analysis and is kept.
const (
	BeginMarker = "<!-- intakebench:begin -->"
	EndMarker   = "<!-- intakebench:end -->"
)

// ReplaceSection returns doc with the text between the intake markers
// replaced by section, or with a marked section appended if doc has none.
func ReplaceSection(doc, section string) (string, error) {
	return ReplaceMarked(doc, BeginMarker, EndMarker, section)
}

// ReplaceMarked returns doc with the text between begin and end replaced by
// section, or with a marked section appended if doc has none. Every bench
// program owns one such section of RESULTS.md and keeps the rest.
func ReplaceMarked(doc, begin, end, section string) (string, error) {
	block := begin + "\n" + strings.TrimRight(section, "\n") + "\n" + end
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	switch {
	case i < 0 && j < 0:
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		if doc != "" {
			doc += "\n"
		}
		return doc + block + "\n", nil
	case i < 0 || j < i:
		return "", fmt.Errorf("markers %s and %s are unpaired or out of order", begin, end)
	}
	return doc[:i] + block + doc[j+len(end):], nil
}

// UpdateResults rewrites the marked section of the results file at path,
// creating the file if it does not exist.
func UpdateResults(path, begin, end, section string) error {
	doc, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	next, err := ReplaceMarked(string(doc), begin, end, section)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(next), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// GitCommit names the checked-out commit, or "unknown" outside a git tree.
func GitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
