package dispatch

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/bench/intake"
)

// Section markers in RESULTS.md: the text between them is this program's.
const (
	BeginMarker = "<!-- dispatchbench:begin -->"
	EndMarker   = "<!-- dispatchbench:end -->"
)

// Aims of issue 6.
const (
	aimVisibleRatio = 1.3                  // Slipway visible p50 ≤ 1.3 × floor's
	aimRunsRatio    = 0.9                  // Slipway runs/s ≥ 0.9 × floor's at c=32
	aimAnswerP99    = 5 * time.Millisecond // webhook → 2xx p99 at c=8
)

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// Load names the row's load: "c=8" (closed loop) or "open 100/s".
func (r Row) Load() string {
	if r.Rate > 0 {
		return fmt.Sprintf("open %g/s", r.Rate)
	}
	return fmt.Sprintf("c=%d", r.Concurrency)
}

// Met lists the aims of one row and whether each is met.
func (r Row) Met() []string {
	var out []string
	ratio := 0.0
	if r.Floor.VisibleP50 > 0 {
		ratio = float64(r.Slipway.VisibleP50) / float64(r.Floor.VisibleP50)
	}
	out = append(out, verdict(ratio <= aimVisibleRatio, fmt.Sprintf("visible p50 %.2f× floor (aim ≤ %.1f×)", ratio, aimVisibleRatio)))
	if r.Concurrency == 32 {
		rr := 0.0
		if r.Floor.RunsPerSec > 0 {
			rr = r.Slipway.RunsPerSec / r.Floor.RunsPerSec
		}
		out = append(out, verdict(rr >= aimRunsRatio, fmt.Sprintf("runs/s %.2f× floor (aim ≥ %.1f×)", rr, aimRunsRatio)))
	}
	if r.Concurrency == 8 {
		out = append(out, verdict(r.Slipway.AnswerP99 <= aimAnswerP99, fmt.Sprintf("2xx p99 %s ms (aim ≤ %s ms)", ms(r.Slipway.AnswerP99), ms(aimAnswerP99))))
	}
	lossless := r.Slipway.Lost == 0 && r.Slipway.Duplicates == 0 && r.Slipway.Rejected == 0
	out = append(out, verdict(lossless, "0 lost, 0 duplicates, 0 refused"))
	return out
}

func verdict(ok bool, s string) string {
	if ok {
		return "met: " + s
	}
	return "**not met**: " + s
}

// tableRow is one line of the main table.
func tableRow(store, load, who string, st Stats, cpu time.Duration, rssKiB int64, badSig string) string {
	events, cpus, rss := "—", "", ""
	if who != "floor" {
		events = fmt.Sprintf("%.0f", st.EventsPerSec)
		cpus, rss = fmt.Sprintf("%.2f", cpu.Seconds()), fmt.Sprintf("%.0f", float64(rssKiB)/1024)
	}
	return fmt.Sprintf("| %s | %s | %s | %d/%d | %s | %s | %s | %s | %s | %.0f | %d | %d | %s | %s | %s |\n",
		store, load, who, st.Accepted, st.Events, ms(st.AnswerP50), ms(st.AnswerP99), ms(st.VisibleP50), ms(st.VisibleP99), events, st.RunsPerSec,
		st.Lost, st.Duplicates, cpus, rss, badSig)
}

// badSig is the bad-signature column: the status answered, and whether a
// run was made from the push anyway.
func badSig(status int, run bool) string {
	if status == 0 {
		return ""
	}
	if run {
		return fmt.Sprintf("%d, **run made**", status)
	}
	return fmt.Sprintf("%d, no run", status)
}

// WriteTable writes the rows, the Triggers rows (trig may be nil) and the
// shutdown bursts as Markdown.
func WriteTable(w io.Writer, results []Result, trig *TriggersResult) error {
	var b bytes.Buffer
	b.WriteString("| store | load | who | accepted | 2xx/create p50 | p99 ms | visible p50 | p99 ms | events/s | runs/s | lost | dup | CPU s | peak RSS MiB | bad signature → |\n")
	b.WriteString("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, res := range results {
		for _, r := range res.Rows {
			b.WriteString(tableRow(r.Engine, r.Load(), "floor", r.Floor, 0, 0, ""))
			b.WriteString(tableRow(r.Engine, r.Load(), "slipway", r.Slipway, r.CPU, r.PeakRSSKiB, badSig(r.BadSignature, r.BadSignatureRun)))
		}
	}
	if trig != nil {
		for _, r := range trig.Rows {
			b.WriteString(tableRow("—", r.Load(), "floor", r.Floor, 0, 0, ""))
			b.WriteString(tableRow("—", r.Load(), "triggers "+r.Variant, r.Triggers, r.CPU, r.PeakRSSKiB, badSig(r.BadSignature, r.BadSignatureRun)))
		}
	}
	b.WriteString("\nAims per row:\n\n")
	for _, res := range results {
		for _, r := range res.Rows {
			fmt.Fprintf(&b, "- %s %s: %s\n", r.Engine, r.Load(), strings.Join(r.Met(), "; "))
		}
	}
	b.WriteString("\nSlipway's requests to the apiserver during each burst (its own `slipway_kube_requests_total`, by verb and resource; a watch is a watch opened, not an event):\n\n")
	proxied := false
	for _, res := range results {
		for _, r := range res.Rows {
			fmt.Fprintf(&b, "- %s %s: %s\n", r.Engine, r.Load(), strings.Join(r.APICalls, ", "))
			proxied = proxied || len(r.ProxyCalls) > 0
		}
	}
	if !proxied {
		b.WriteString("\nSlipway's PipelineRun creates as its client timed them (request → answer headers; `slipway_kube_request_duration_seconds`), talking to the apiserver directly as the floor does:\n\n")
		b.WriteString("| store | load | creates | mean ms |\n|---|--:|--:|--:|\n")
		for _, res := range results {
			for _, r := range res.Rows {
				fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", r.Engine, r.Load(), r.Creates.N, ms(r.Creates.Mean))
			}
		}
	} else {
		b.WriteString("\nThe same requests as counted by the loopback proxy Slipway went through (`--proxy`):\n\n")
		for _, res := range results {
			for _, r := range res.Rows {
				fmt.Fprintf(&b, "- %s %s: %s\n", r.Engine, r.Load(), strings.Join(r.ProxyCalls, ", "))
			}
		}
		b.WriteString("\nSlipway's PipelineRun creates as the proxy timed them (request in → answer copied back: the apiserver's round trip plus the hop), split by whether another of its creates was in flight when one started; the floor's creates at c=1 never overlap:\n\n")
		b.WriteString("| store | load | creates | p50 ms | p99 ms | max in flight | started alone | alone p50 ms | overlapped p50 ms |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, res := range results {
			for _, r := range res.Rows {
				c := r.Creates
				fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %d | %d | %s | %s |\n", r.Engine, r.Load(), c.N, ms(c.P50), ms(c.P99), c.MaxInFlight,
					c.N-c.Overlapped, ms(c.AloneP50), ms(c.OverlappedP50))
			}
		}
	}
	var sds []*Shutdown
	for _, res := range results {
		if res.Shutdown != nil {
			sds = append(sds, res.Shutdown)
		}
	}
	if len(sds) > 0 {
		b.WriteString("\nSIGTERM burst (c=8; SIGTERM once half the pushes are answered; restart on the same store; redeliver every push not answered 2xx, same delivery id):\n\n")
		b.WriteString("| store | pushes | 2xx before SIGTERM | refused/failed | SIGTERM → exit s | grace s | exit | redelivered | lost | dup |\n|---|--:|--:|--:|--:|--:|---|--:|--:|--:|\n")
		for _, sd := range sds {
			exit := "0"
			if sd.ExitErr != "" {
				exit = sd.ExitErr
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %.2f | %.0f | %s | %d | %d | %d |\n", sd.Engine, sd.Events, sd.AcceptedBefore, sd.Refused,
				sd.ExitAfter.Seconds(), sd.Grace.Seconds(), exit, sd.Redelivered, sd.Lost, sd.Duplicates)
		}
	}
	for _, res := range results {
		for _, r := range res.Rows {
			for _, e := range append(r.Floor.Errors, r.Slipway.Errors...) {
				fmt.Fprintf(&b, "\n- %s %s error: `%s`", r.Engine, r.Load(), e)
			}
		}
		if res.Shutdown != nil {
			for _, e := range res.Shutdown.Errors {
				fmt.Fprintf(&b, "\n- %s SIGTERM burst error: `%s`", res.Engine, e)
			}
		}
	}
	if trig != nil {
		for _, r := range trig.Rows {
			for _, e := range append(r.Floor.Errors, r.Triggers.Errors...) {
				fmt.Fprintf(&b, "\n- triggers %s %s error: `%s`", r.Variant, r.Load(), e)
			}
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// ReplaceSection returns doc with the text between the markers replaced by
// section, or with a marked section appended if doc has none.
func ReplaceSection(doc, section string) (string, error) {
	return intake.ReplaceMarked(doc, BeginMarker, EndMarker, section)
}
