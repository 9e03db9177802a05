package faults

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Recovery is how long what a fault disturbed took to come back, each
// from the fault's end (the kill sent, the apiserver or PostgreSQL up
// again). A false OK means it did not come back within the run.
type Recovery struct {
	Fault Fault
	// Refused counts the attempts started between this fault's start and
	// the next one's that got no 2xx; RefusedFor is from the fault's
	// start to the end of the last of them.
	Refused    int
	RefusedFor time.Duration
	// Leader: the first renewal of the Lease after the fault, and by whom.
	Leader   time.Duration
	LeaderOK bool
	Holder   string
	// Ready: every replica ready again (and the killed one restarted).
	Ready   time.Duration
	ReadyOK bool
	// Queue: every event acknowledged by the fault's end has its
	// PipelineRun (Kubernetes' creation times are whole seconds).
	Queue   time.Duration
	QueueOK bool
	// Statuses: every event acknowledged by the fault's end has its
	// run's final status.
	Statuses   time.Duration
	StatusesOK bool
}

// Recoveries measures each fault from what the run recorded.
func Recoveries(faults []Fault, o Observed, samples []Sample) []Recovery {
	acks := ackTimes(o.Outcomes)
	firstFinal := map[string]time.Time{}
	for _, s := range o.Record.Statuses {
		if s.Context != StatusContext || !finalStates[s.State] || !strings.HasPrefix(s.Repo, o.Prefix) {
			continue
		}
		if t, ok := firstFinal[s.SHA]; !ok || s.At.Before(t) {
			firstFinal[s.SHA] = s.At
		}
	}
	var out []Recovery
	for i, f := range faults {
		r := Recovery{Fault: f}
		if f.Start.IsZero() || f.End.IsZero() {
			out = append(out, r)
			continue
		}
		next := time.Time{}
		if i+1 < len(faults) {
			next = faults[i+1].Start
		}
		for _, oc := range o.Outcomes {
			for _, a := range oc.Attempts {
				if a.OK() || a.Start.Before(f.Start) || (!next.IsZero() && !a.Start.Before(next)) {
					continue
				}
				r.Refused++
				r.RefusedFor = max(r.RefusedFor, a.End.Sub(f.Start))
			}
		}
		for _, s := range samples {
			if s.At.Before(f.End) || s.Err != "" {
				continue
			}
			if !r.LeaderOK && s.RenewTime.After(f.End) {
				r.Leader, r.LeaderOK, r.Holder = s.RenewTime.Sub(f.End), true, s.Holder
			}
			if !r.ReadyOK && s.Want > 0 && s.Ready() >= s.Want {
				p, ok := s.Pod(f.Target)
				if f.Target == "" || ok && p.Ready && p.Restarts > f.RestartsBefore {
					r.Ready, r.ReadyOK = s.At.Sub(f.End), true
				}
			}
		}
		r.QueueOK, r.StatusesOK = true, true
		for ev, at := range acks {
			if at.After(f.End) {
				continue
			}
			runs := o.Runs[ev.SHA]
			if len(runs) == 0 {
				r.QueueOK, r.StatusesOK = false, false
				continue
			}
			r.Queue = max(r.Queue, earliest(runs).Sub(f.End))
			t, ok := firstFinal[ev.SHA]
			if !ok {
				r.StatusesOK = false
				continue
			}
			r.Statuses = max(r.Statuses, t.Sub(f.End))
		}
		out = append(out, r)
	}
	return out
}

func earliest(runs []PipelineRun) time.Time {
	t := runs[0].Created
	for _, r := range runs[1:] {
		if r.Created.Before(t) {
			t = r.Created
		}
	}
	return t
}

// Moment is one line of the fault timeline.
type Moment struct {
	At   time.Time
	What string
}

// Timeline merges the faults, the stream's start and end, and what the
// monitor saw change (the apiserver unreachable and back, the Lease
// changing hands, replicas not ready and back, container restarts) into
// one chronological list.
func Timeline(start, streamEnd time.Time, faults []Fault, samples []Sample) []Moment {
	out := []Moment{{start, "stream starts"}}
	if !streamEnd.IsZero() {
		out = append(out, Moment{streamEnd, "stream ends (last send answered)"})
	}
	for _, f := range faults {
		if f.Start.IsZero() {
			out = append(out, Moment{start.Add(f.At), fmt.Sprintf("%s: not done (%v)", f.Kind, f.Err)})
			continue
		}
		what := string(f.Kind)
		if f.Detail != "" {
			what += ": " + f.Detail
		}
		if f.Err != nil {
			what += fmt.Sprintf(" — FAILED: %v", f.Err)
		}
		out = append(out, Moment{f.Start, what})
		if f.Kind == APIServerDown {
			out = append(out, Moment{f.End, "kube-apiserver back (/readyz)"})
		}
		if f.Kind == PostgresRestart && f.Err == nil {
			out = append(out, Moment{f.End, "PostgreSQL accepting connections again"})
		}
	}
	var prev *Sample
	down := false
	for i := range samples {
		s := &samples[i]
		if s.Err != "" {
			if !down {
				out = append(out, Moment{s.At, "monitor: apiserver unreachable"})
				down = true
			}
			continue
		}
		if down {
			out = append(out, Moment{s.At, "monitor: apiserver answers again"})
			down = false
		}
		if prev == nil {
			out = append(out, Moment{s.At, fmt.Sprintf("monitor: leader %s, %d/%d replicas ready", orNone(s.Holder), s.Ready(), s.Want)})
			prev = s
			continue
		}
		if s.Holder != prev.Holder {
			out = append(out, Moment{s.At, fmt.Sprintf("monitor: Lease held by %s (was %s)", orNone(s.Holder), orNone(prev.Holder))})
		}
		if s.Ready() != prev.Ready() {
			out = append(out, Moment{s.At, fmt.Sprintf("monitor: %d/%d replicas ready", s.Ready(), s.Want)})
		}
		for _, p := range s.Pods {
			if q, ok := prev.Pod(p.Name); ok && p.Restarts > q.Restarts {
				out = append(out, Moment{s.At, fmt.Sprintf("monitor: %s restarted (%d restarts)", p.Name, p.Restarts)})
			}
		}
		prev = s
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

func orNone(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}
