package faults

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
	BeginMarker = "<!-- faultbench:begin -->"
	EndMarker   = "<!-- faultbench:end -->"
)

const missing = "—"

// WriteSection writes the run as a RESULTS.md section: how it was run,
// the counts per kind, each fault's recovery and the timeline.
func WriteSection(w io.Writer, when time.Time, m intake.Machine, r Result) error {
	var b bytes.Buffer
	c := r.Config
	b.WriteString("## Fault run: HA Slipway on PostgreSQL (local stack)\n\n")
	fmt.Fprintf(&b, "- Run: %s; commit %s; run id %s (repositories %s*)\n", when.UTC().Format("2006-01-02 15:04 MST"), m.Commit, r.Run, Prefix(r.Run))
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s, %d MiB memory; %s\n", m.CPUs, m.CPUModel, m.MemoryMiB, m.Go)
	fmt.Fprintf(&b, "- Load average (1/5/15 min): %s before, %s after\n", m.LoadBefore, m.LoadAfter)
	fmt.Fprintf(&b, "- How: %d signed webhooks — %d distinct events (GitHub push, GitHub pull request opened, GitLab push, GitLab merge request opened, in turn, over %d repositories per host) and %d redeliveries of earlier delivery ids, each %d sends after its original — sent at %.0f/s in an open loop (each on schedule whether or not earlier ones were answered), one TCP connection per delivery as the hosts make them, through the Service's ClusterIP. A refused send (no answer, 5xx, 408, 429) is delivered again, same delivery id, up to %d times with backoff (a host's redelivery, or Slipway's own recovery); other answers are final.\n",
		r.Sends, r.Distinct, c.Repos, c.Redeliveries, c.RedeliverAfter, c.Rate, c.Retries)
	fmt.Fprintf(&b, "- Slipway: deploy/ha, %d replicas on the stack's PostgreSQL (e2e/stack/postgres.sh, on the host), leader election on (Lease 15 s), its builds namespace `%s`, whose `slipway-ci` Pipeline every run fails validation against: Tekton fails each run at once and starts no pod, and Slipway reports it like any failed run — a final commit status, an email, a chat message, and for pull/merge requests a comment.\n", c.Replicas, c.Namespace)
	if c.Faults {
		fmt.Fprintf(&b, "- Faults, one after the other (at least %s apart): the leader's container SIGKILLed through containerd at 15 %% and 80 %% of the stream, the kube-apiserver stopped for %s at 35 %% (by its PID file; kube-proxy's rules stay), PostgreSQL restarted (fast shutdown, then start) at 60 %%.\n", c.FaultGap, c.APIServerDown)
	} else {
		b.WriteString("- Faults: none (a baseline run).\n")
	}
	drain := "everything arrived"
	if !r.Drained {
		drain = fmt.Sprintf("gave up after %s without anything new", c.Settle)
	}
	fmt.Fprintf(&b, "- Counted after the drain (%s, %s s after the stream): PipelineRuns by their `slipway.dev/sha` label (each event has its own SHA), the fakescm's record of statuses (`%s`), chat messages (by run id), emails (by the run id in the body) and comments (by pull/merge request).\n\n",
		drain, secs(r.DrainEnd.Sub(r.StreamEnd)), StatusContext)

	b.WriteString("| events | sends | distinct | acknowledged | refused ≥ 1× | never acknowledged | PipelineRuns | lost | duplicate runs | no final status | > 1 final status | chat missing / dup | email missing / dup | comment missing / dup |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	row := func(name string, k Counts) {
		comment := missing
		if name == "all" || strings.Contains(name, "request") {
			comment = fmt.Sprintf("%d / %d", k.CommentMissing, k.CommentDuplicates)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %s | %s | %d | %s | %d / %d | %d / %d | %s |\n",
			name, k.Sends, k.Events, k.Acked, k.RefusedOnce, k.NeverAcked, k.Runs, bold(k.Lost), bold(k.DuplicateRuns),
			k.NoFinalStatus, bold(k.ManyFinalStatuses), k.ChatMissing, k.ChatDuplicates, k.MailMissing, k.MailDuplicates, comment)
	}
	for _, k := range Kinds {
		if kc, ok := r.ByKind[k]; ok {
			row(string(k), kc)
		}
	}
	row("all", r.Totals)
	fmt.Fprintf(&b, "\nRefused attempts: %d (no answer, 5xx, 408, 429); other non-2xx answers: %d. Events never acknowledged that ran anyway (the answer was lost, not the event): %d. Commits with a `pending` status posted more than once (shown, not judged): %d. PipelineRuns in the namespace: %d.\n",
		r.RefusedAttempts, r.OtherCodes, r.Totals.UnackedWithRun, r.Totals.ManyPending, r.RunsInNS)

	if len(r.Recoveries) > 0 {
		b.WriteString("\nRecovery, in seconds from each fault's end (the kill sent; the apiserver, PostgreSQL accepting again). Refused: attempts started from the fault until the next one that got no 2xx, and until when. Leader: the Lease's first renewal after it. Ready: every replica ready again (the killed one restarted). Queue: every event acknowledged by then has its PipelineRun (creation times are whole seconds). Statuses: every event acknowledged by then has its run's final status.\n\n")
		b.WriteString("| # | fault | at s | lasted s | refused | refused until s | leader s (holder) | replicas ready s | queue caught up s | statuses caught up s |\n")
		b.WriteString("|--:|---|--:|--:|--:|--:|---|--:|--:|--:|\n")
		for i, rc := range r.Recoveries {
			f := rc.Fault
			if f.Start.IsZero() {
				fmt.Fprintf(&b, "| %d | %s | — | %v | | | | | | |\n", i+1, f.Kind, f.Err)
				continue
			}
			name := string(f.Kind)
			if f.Err != nil {
				name += " (**failed**: " + f.Err.Error() + ")"
			}
			refusedFor := missing
			if rc.Refused > 0 {
				refusedFor = secs(rc.RefusedFor)
			}
			leader := "**not renewed**"
			if rc.LeaderOK {
				leader = fmt.Sprintf("%s (%s)", secs(rc.Leader), rc.Holder)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %d | %s | %s | %s | %s | %s |\n", i+1, name, secs(f.Start.Sub(r.Start)), secs(f.End.Sub(f.Start)),
				rc.Refused, refusedFor, leader, okSecs(rc.Ready, rc.ReadyOK), okSecs(rc.Queue, rc.QueueOK), okSecs(rc.Statuses, rc.StatusesOK))
		}
	}

	b.WriteString("\nTimeline (seconds from the stream's start):\n\n")
	for _, mo := range r.Timeline {
		fmt.Fprintf(&b, "- +%s %s\n", secs(mo.At.Sub(r.Start)), mo.What)
	}
	b.WriteString("\nAim (0 lost, 0 duplicates; every run reported and notified once): ")
	if p := r.Totals.Problems(); len(p) > 0 || !r.OK() {
		fmt.Fprintf(&b, "**not met**: %s.\n", strings.Join(append(p, failedFaults(r.Faults)...), "; "))
	} else {
		b.WriteString("met.\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

func failedFaults(fs []Fault) []string {
	var out []string
	for _, f := range fs {
		if f.Err != nil {
			out = append(out, fmt.Sprintf("fault %q failed: %v", f.Kind, f.Err))
		}
	}
	return out
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }

func okSecs(d time.Duration, ok bool) string {
	if !ok {
		return "**never**"
	}
	return secs(d)
}

// bold marks a non-zero count the aim says must be zero.
func bold(n int) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("**%d**", n)
}
