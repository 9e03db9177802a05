package faults

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/e2e/fakescm"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func ok(at time.Duration) Attempt {
	return Attempt{Start: t0.Add(at), End: t0.Add(at + 10*time.Millisecond), Code: 202}
}

func refusedAt(at time.Duration) Attempt {
	return Attempt{Start: t0.Add(at), End: t0.Add(at + 10*time.Millisecond), Code: 503}
}

func ev(i int, k Kind) *Event {
	e := &Event{Index: i, Kind: k, Repo: "e2e/faults-r-x", SHA: fmt.Sprintf("%040d", i)}
	if k.MR() {
		e.MR = i + 1
	}
	return e
}

func chat(run string) fakescm.ChatMessage {
	b, _ := json.Marshal(map[string]string{"run": run, "repo": "e2e/faults-r-x"})
	return fakescm.ChatMessage{Body: b}
}

func mail(run string) fakescm.Mail {
	return fakescm.Mail{Subject: "[slipway] e2e/faults-r-x main failed (abc)", Body: "The pipeline...\n\nRun:      " + run + "\nCommit:   x\n"}
}

func status(e *Event, state string) fakescm.Status {
	return fakescm.Status{Repo: e.Repo, SHA: e.SHA, Context: StatusContext, State: state}
}

func run(e *Event, name string) PipelineRun {
	return PipelineRun{Name: "bench-faults/" + name, SHA: e.SHA, Created: t0}
}

// Every way an event can go wrong is counted once, in its kind.
func TestCount(t *testing.T) {
	good, lost, twice := ev(0, GitHubPush), ev(1, GitHubPush), ev(2, GitHubPush)
	mr, unacked, redelivered := ev(3, GitLabMR), ev(4, GitLabPush), ev(5, GitHubPR)
	o := Observed{
		Prefix: "e2e/faults-r-",
		Outcomes: []Outcome{
			{Send: Send{Event: good}, Attempts: []Attempt{refusedAt(0), ok(time.Second)}},
			{Send: Send{Event: lost}, Attempts: []Attempt{ok(0)}},
			{Send: Send{Event: twice}, Attempts: []Attempt{ok(0)}},
			{Send: Send{Event: mr}, Attempts: []Attempt{ok(0)}},
			{Send: Send{Event: unacked}, Attempts: []Attempt{refusedAt(0), refusedAt(time.Second)}},
			{Send: Send{Event: redelivered}, Attempts: []Attempt{ok(0)}},
			{Send: Send{Event: redelivered, Redelivery: true}, Attempts: []Attempt{{Code: 200}}},
		},
		Runs: map[string][]PipelineRun{
			good.SHA:        {run(good, "good")},
			twice.SHA:       {run(twice, "a"), run(twice, "b")},
			mr.SHA:          {run(mr, "mr")},
			unacked.SHA:     {run(unacked, "unacked")},
			redelivered.SHA: {run(redelivered, "pr")},
		},
		Record: Record{
			Statuses: []fakescm.Status{
				status(good, "pending"), status(good, "failure"),
				status(twice, "failure"),
				status(mr, "pending"), status(mr, "pending"), status(mr, "failed"), status(mr, "failed"),
				status(unacked, "failed"),
				status(redelivered, "failure"),
				{Repo: "e2e/other", SHA: good.SHA, Context: StatusContext, State: "failure"}, // not the bench's
				{Repo: good.Repo, SHA: good.SHA, Context: "other/ci", State: "failure"},      // not Slipway's
			},
			Chats: []fakescm.ChatMessage{chat("bench-faults/good"), chat("bench-faults/good"), chat("bench-faults/a"),
				chat("bench-faults/b"), chat("bench-faults/mr"), chat("bench-faults/unacked"), chat("bench-faults/pr")},
			Mails: []fakescm.Mail{mail("bench-faults/good"), mail("bench-faults/a"), mail("bench-faults/b"), mail("bench-faults/mr"),
				mail("bench-faults/unacked")},
			Comments: []fakescm.Comment{
				{Provider: "gitlab", Repo: mr.Repo, Number: mr.MR}, {Provider: "gitlab", Repo: mr.Repo, Number: mr.MR},
				{Provider: "github", Repo: mr.Repo, Number: mr.MR}, // the other host's: not this request's
			},
		},
	}
	all, byKind := Count(o)
	want := Counts{
		Sends: 7, Redeliveries: 1, Events: 6, Acked: 5, RefusedOnce: 2, NeverAcked: 1, Runs: 6,
		Lost: 1, DuplicateRuns: 1, UnackedWithRun: 1, ManyFinalStatuses: 1, ManyPending: 1,
		ChatDuplicates: 1, MailMissing: 1, CommentMissing: 1, CommentDuplicates: 1,
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("Count (-want +got)\n%s", diff)
	}
	if all.OK() {
		t.Error("OK with losses and duplicates")
	}
	if got := byKind[GitLabMR]; got.ManyFinalStatuses != 1 || got.CommentDuplicates != 1 || got.Events != 1 {
		t.Errorf("GitLab merge requests: %+v", got)
	}
	if got := byKind[GitHubPR]; got.CommentMissing != 1 || got.MailMissing != 1 || got.Redeliveries != 1 {
		t.Errorf("GitHub pull requests: %+v", got)
	}
	if n := Incomplete(o); n != want.Lost+want.MailMissing+want.CommentMissing {
		t.Errorf("Incomplete = %d", n)
	}
	if len(all.Problems()) != 7 {
		t.Errorf("Problems = %q, want 7", all.Problems())
	}
}

func TestCountAllWell(t *testing.T) {
	e := ev(0, GitHubPush)
	o := Observed{Prefix: "e2e/faults-r-", Outcomes: []Outcome{{Send: Send{Event: e}, Attempts: []Attempt{ok(0)}}},
		Runs:   map[string][]PipelineRun{e.SHA: {run(e, "one")}},
		Record: Record{Statuses: []fakescm.Status{status(e, "failure")}, Chats: []fakescm.ChatMessage{chat("bench-faults/one")}, Mails: []fakescm.Mail{mail("bench-faults/one")}}}
	all, _ := Count(o)
	if !all.OK() || Incomplete(o) != 0 || len(all.Problems()) != 0 {
		t.Errorf("Count = %+v, problems %q", all, all.Problems())
	}
}
