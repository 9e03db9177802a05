package faults

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/e2e/fakescm"
)

// StatusContext is the commit status Slipway posts on the stack.
const StatusContext = "slipway/ci"

// finalStates are the states a status ends a run with, on either host.
var finalStates = map[string]bool{"success": true, "failure": true, "error": true, "failed": true, "canceled": true}

// notifiedStates are the final states that send email and chat (failed
// runs; successes only with notify-on-success, off on the stack).
var notifiedStates = map[string]bool{"failure": true, "failed": true}

// Observed is everything the count reads.
type Observed struct {
	Prefix   string // of the bench's repository names
	Outcomes []Outcome
	Runs     map[string][]PipelineRun // by SHA
	Record   Record
}

// Counts are the totals of one kind of event (or of all).
type Counts struct {
	Sends, Redeliveries int
	Events              int // distinct deliveries
	Acked               int // answered 2xx at least once
	RefusedOnce         int // events refused (no answer, 5xx, 408, 429) at least once
	NeverAcked          int
	Runs                int // PipelineRuns of the events
	Lost                int // acked, no PipelineRun
	DuplicateRuns       int // events with more than one PipelineRun
	UnackedWithRun      int // never acked, yet run (the answer was lost, not the event)
	NoFinalStatus       int // runs whose commit got no final status
	ManyFinalStatuses   int // ... more than one
	ManyPending         int // commits with a pending status posted more than once (not a final one: shown, not judged)
	ChatMissing         int
	ChatDuplicates      int // chat messages beyond one per failed run
	MailMissing         int
	MailDuplicates      int
	CommentMissing      int // merge requests whose run left no comment
	CommentDuplicates   int // comments beyond one per merge request
}

// OK is the aim: nothing lost, nothing twice, every run reported
// and notified once.
func (c Counts) OK() bool {
	return c.Lost == 0 && c.DuplicateRuns == 0 && c.NoFinalStatus == 0 && c.ManyFinalStatuses == 0 &&
		c.ChatMissing == 0 && c.ChatDuplicates == 0 && c.MailMissing == 0 && c.MailDuplicates == 0 &&
		c.CommentMissing == 0 && c.CommentDuplicates == 0
}

// Problems lists what OK is false for, for the report.
func (c Counts) Problems() []string {
	var out []string
	add := func(n int, what string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(c.Lost, "acknowledged events without a PipelineRun (lost)")
	add(c.DuplicateRuns, "events with more than one PipelineRun")
	add(c.NoFinalStatus, "runs without a final commit status")
	add(c.ManyFinalStatuses, "runs whose commit got more than one final status")
	add(c.ChatMissing, "failed runs without a chat notification")
	add(c.ChatDuplicates, "duplicate chat notifications")
	add(c.MailMissing, "failed runs without an email")
	add(c.MailDuplicates, "duplicate emails")
	add(c.CommentMissing, "merge requests without a comment")
	add(c.CommentDuplicates, "duplicate merge request comments")
	return out
}

// Count tallies o, in all and per kind.
func Count(o Observed) (all Counts, byKind map[Kind]Counts) {
	byKind = map[Kind]Counts{}
	type evState struct {
		ev                *Event
		acked, refused    bool
		sends, redelivers int
	}
	events := map[*Event]*evState{}
	var order []*Event
	for _, out := range o.Outcomes {
		st := events[out.Event]
		if st == nil {
			st = &evState{ev: out.Event}
			events[out.Event] = st
			order = append(order, out.Event)
		}
		st.sends++
		if out.Redelivery {
			st.redelivers++
		}
		for _, a := range out.Attempts {
			if a.OK() {
				st.acked = true
			} else if a.refused() {
				st.refused = true
			}
		}
	}
	finals, pendings := map[string]int{}, map[string]int{}
	finalState := map[string]string{}
	for _, s := range o.Record.Statuses {
		if s.Context != StatusContext || !strings.HasPrefix(s.Repo, o.Prefix) {
			continue
		}
		switch {
		case finalStates[s.State]:
			finals[s.SHA]++
			finalState[s.SHA] = s.State
		case s.State == "pending" && !strings.HasPrefix(s.Description, "Running"):
			pendings[s.SHA]++
		}
	}
	chats, mails := chatsByRun(o.Record.Chats, o.Prefix), mailsByRun(o.Record.Mails, o.Prefix)
	comments := map[string]int{} // provider repo#number
	for _, c := range o.Record.Comments {
		if strings.HasPrefix(c.Repo, o.Prefix) {
			comments[fmt.Sprintf("%s %s#%d", c.Provider, c.Repo, c.Number)]++
		}
	}
	for _, ev := range order {
		st := events[ev]
		c := byKind[ev.Kind]
		c.Events++
		c.Sends += st.sends
		c.Redeliveries += st.redelivers
		if st.refused {
			c.RefusedOnce++
		}
		runs := o.Runs[ev.SHA]
		c.Runs += len(runs)
		switch {
		case st.acked && len(runs) == 0:
			c.Lost++
		case !st.acked && len(runs) > 0:
			c.UnackedWithRun++
		}
		if st.acked {
			c.Acked++
		} else {
			c.NeverAcked++
		}
		if len(runs) > 1 {
			c.DuplicateRuns++
		}
		if pendings[ev.SHA] > 1 {
			c.ManyPending++
		}
		if len(runs) > 0 {
			switch n := finals[ev.SHA]; {
			case n == 0:
				c.NoFinalStatus++
			case n > 1:
				c.ManyFinalStatuses++
			}
			if notifiedStates[finalState[ev.SHA]] {
				for _, r := range runs {
					c.ChatMissing += boolInt(chats[r.Name] == 0)
					c.ChatDuplicates += max(chats[r.Name]-1, 0)
					c.MailMissing += boolInt(mails[r.Name] == 0)
					c.MailDuplicates += max(mails[r.Name]-1, 0)
				}
			}
			if ev.Kind.MR() && finals[ev.SHA] > 0 {
				n := comments[fmt.Sprintf("%s %s#%d", ev.Kind.Provider(), ev.Repo, ev.MR)]
				c.CommentMissing += boolInt(n == 0)
				c.CommentDuplicates += max(n-1, 0)
			}
		}
		byKind[ev.Kind] = c
	}
	for _, k := range Kinds {
		all = all.plus(byKind[k])
	}
	return all, byKind
}

func (c Counts) plus(d Counts) Counts {
	return Counts{
		Sends: c.Sends + d.Sends, Redeliveries: c.Redeliveries + d.Redeliveries, Events: c.Events + d.Events,
		Acked: c.Acked + d.Acked, RefusedOnce: c.RefusedOnce + d.RefusedOnce, NeverAcked: c.NeverAcked + d.NeverAcked,
		Runs: c.Runs + d.Runs, Lost: c.Lost + d.Lost, DuplicateRuns: c.DuplicateRuns + d.DuplicateRuns,
		UnackedWithRun: c.UnackedWithRun + d.UnackedWithRun, NoFinalStatus: c.NoFinalStatus + d.NoFinalStatus,
		ManyFinalStatuses: c.ManyFinalStatuses + d.ManyFinalStatuses, ManyPending: c.ManyPending + d.ManyPending,
		ChatMissing: c.ChatMissing + d.ChatMissing, ChatDuplicates: c.ChatDuplicates + d.ChatDuplicates,
		MailMissing: c.MailMissing + d.MailMissing, MailDuplicates: c.MailDuplicates + d.MailDuplicates,
		CommentMissing: c.CommentMissing + d.CommentMissing, CommentDuplicates: c.CommentDuplicates + d.CommentDuplicates,
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// chatsByRun counts the chat messages (Slipway's run.finished JSON) per
// run id, of the bench's repositories.
func chatsByRun(msgs []fakescm.ChatMessage, prefix string) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		var p struct {
			Run  string `json:"run"`
			Repo string `json:"repo"`
		}
		if json.Unmarshal(m.Body, &p) != nil || !strings.HasPrefix(p.Repo, prefix) {
			continue
		}
		out[p.Run]++
	}
	return out
}

// mailsByRun counts the emails per run id (the "Run:" line of the body),
// of the bench's repositories (named in the subject).
func mailsByRun(mails []fakescm.Mail, prefix string) map[string]int {
	out := map[string]int{}
	for _, m := range mails {
		if !strings.Contains(m.Subject, prefix) {
			continue
		}
		for line := range strings.SplitSeq(m.Body, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Run:" {
				out[f[1]]++
				break
			}
		}
	}
	return out
}

// Incomplete is what the drain still waits for: acknowledged events
// without a run, runs without a final status, failed runs without their
// chat message or email, merge requests without their comment.
func Incomplete(o Observed) int {
	c, _ := Count(o)
	return c.Lost + c.NoFinalStatus + c.ChatMissing + c.MailMissing + c.CommentMissing
}

// ackTimes maps each event to when it was first acknowledged.
func ackTimes(outcomes []Outcome) map[*Event]time.Time {
	out := map[*Event]time.Time{}
	for _, o := range outcomes {
		if t, ok := o.Acked(); ok {
			if prev, seen := out[o.Event]; !seen || t.Before(prev) {
				out[o.Event] = t
			}
		}
	}
	return out
}
