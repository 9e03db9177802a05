package dispatch

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// gated is a merge-request harness with the trust gate on, its approvals
// in a real (SQLite) store.
func gated(t *testing.T) (*harness, *mrSCM, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h, f := newMRHarness(t, WithTrustGate(db, "slipway/ci"))
	return h, f, db
}

// byAuthor is MR 7 at sha opened by who.
func byAuthor(who, sha, delivery string) event.Event {
	e := mr(7, sha, delivery)
	e.Author = who
	return e
}

func waitingReason(who, sha, also string) string {
	return WaitingStatus + " (" + who + " is not trusted): /ok-to-test from anyone with write access to acme/web" + also + " starts " + sha[:8]
}

func TestTrustGate(t *testing.T) {
	for _, tc := range []struct {
		name         string
		base, head   string // .slipway.yaml on main and at the head
		ev           func() event.Event
		approve      string // SHA approved beforehand
		members      map[string]map[string]bool
		groupErr     map[string]error
		want         outcome
		wantStatuses []string
	}{
		{name: "maintainer builds", ev: func() event.Event { return byAuthor("maintainer", shaA, "d1") },
			want: outcome{State: event.Dispatched}},
		{name: "outsider waits", ev: func() event.Event { return byAuthor("drive-by", shaA, "d1") },
			want:         outcome{State: event.Waiting, Reason: waitingReason("drive-by", shaA, "")},
			wantStatuses: []string{shaA[:8] + " pending slipway/ci: " + WaitingStatus}},
		{name: "no author waits", ev: func() event.Event { return byAuthor("", shaA, "d1") },
			want:         outcome{State: event.Waiting, Reason: waitingReason("an unknown author", shaA, "")},
			wantStatuses: []string{shaA[:8] + " pending slipway/ci: " + WaitingStatus}},
		{name: "trusted on the default branch", base: "trusted: {users: [Drive-By]}",
			ev: func() event.Event { return byAuthor("drive-by", shaA, "d1") }, want: outcome{State: event.Dispatched}},
		{name: "trusting oneself in the MR does not count", head: "trusted: {users: [drive-by]}",
			ev:           func() event.Event { return byAuthor("drive-by", shaA, "d1") },
			want:         outcome{State: event.Waiting, Reason: waitingReason("drive-by", shaA, "")},
			wantStatuses: []string{shaA[:8] + " pending slipway/ci: " + WaitingStatus}},
		{name: "bot with write access waits", base: "trusted: {users: [alice]}", ev: func() event.Event {
			e := byAuthor("maintainer", shaA, "d1")
			e.AuthorBot = true
			return e
		}, want: outcome{State: event.Waiting, Reason: waitingReason("maintainer", shaA, " or alice")},
			wantStatuses: []string{shaA[:8] + " pending slipway/ci: " + WaitingStatus}},
		{name: "listed bot builds", base: "trusted: {users: [\"renovate[bot]\"]}", ev: func() event.Event {
			e := byAuthor("renovate[bot]", shaA, "d1")
			e.AuthorBot = true
			return e
		}, want: outcome{State: event.Dispatched}},
		{name: "member of a trusted group builds", base: "trusted: {groups: [acme/core]}",
			members: map[string]map[string]bool{"acme/core": {"drive-by": true}},
			ev:      func() event.Event { return byAuthor("drive-by", shaA, "d1") }, want: outcome{State: event.Dispatched}},
		{name: "non-member waits, told which groups may approve", base: "trusted: {users: [alice], groups: [acme/core, acme/release]}",
			members:      map[string]map[string]bool{"acme/core": {"someone-else": true}},
			ev:           func() event.Event { return byAuthor("drive-by", shaA, "d1") },
			want:         outcome{State: event.Waiting, Reason: waitingReason("drive-by", shaA, " or alice or members of acme/core, acme/release")},
			wantStatuses: []string{shaA[:8] + " pending slipway/ci: " + WaitingStatus}},
		{name: "trusting one's group in the MR does not count", head: "trusted: {groups: [acme/core]}",
			members:      map[string]map[string]bool{"acme/core": {"drive-by": true}},
			ev:           func() event.Event { return byAuthor("drive-by", shaA, "d1") },
			want:         outcome{State: event.Waiting, Reason: waitingReason("drive-by", shaA, "")},
			wantStatuses: []string{shaA[:8] + " pending slipway/ci: " + WaitingStatus}},
		{name: "bot in a trusted group waits", base: "trusted: {groups: [acme/core]}",
			members: map[string]map[string]bool{"acme/core": {"project_5_bot": true}},
			ev: func() event.Event {
				e := byAuthor("project_5_bot", shaA, "d1")
				e.AuthorBot = true
				return e
			}, want: outcome{State: event.Waiting, Reason: waitingReason("project_5_bot", shaA, " or members of acme/core")},
			wantStatuses: []string{shaA[:8] + " pending slipway/ci: " + WaitingStatus}},
		{name: "host error on the group check retries, neither builds nor waits", base: "trusted: {groups: [acme/core]}",
			members:  map[string]map[string]bool{"acme/core": {"drive-by": true}},
			groupErr: map[string]error{"acme/core": &scm.TransientError{Err: errors.New("502 Bad Gateway")}},
			ev:       func() event.Event { return byAuthor("drive-by", shaA, "d1") }, want: outcome{State: event.Queued}},
		{name: "a refused group check fails the event", base: "trusted: {groups: [acme/core]}",
			groupErr: map[string]error{"acme/core": errors.New("403 Resource not accessible by integration")},
			ev:       func() event.Event { return byAuthor("drive-by", shaA, "d1") },
			want: outcome{State: event.Failed, Reason: "checking drive-by's membership of acme/core (trusted.groups of acme/web): " +
				"403 Resource not accessible by integration"}},
		{name: "approved SHA builds", approve: shaA, ev: func() event.Event { return byAuthor("drive-by", shaA, "d1") },
			want: outcome{State: event.Dispatched}},
		{name: "new push waits again", approve: shaA, ev: func() event.Event { return byAuthor("drive-by", shaB, "d1") },
			want:         outcome{State: event.Waiting, Reason: waitingReason("drive-by", shaB, "")},
			wantStatuses: []string{shaB[:8] + " pending slipway/ci: " + WaitingStatus}},
		{name: "keepApprovals keeps it across pushes", base: "trusted: {keepApprovals: true}", approve: shaA,
			ev: func() event.Event { return byAuthor("drive-by", shaB, "d1") }, want: outcome{State: event.Dispatched}},
		{name: "filters come first: a skipped MR does not wait",
			ev: func() event.Event {
				e := byAuthor("drive-by", shaA, "d1")
				e.CommitMessage = "docs [skip ci]"
				return e
			}, want: outcome{State: event.Ignored}},
		{name: "pushes are not gated", ev: func() event.Event {
			e := push("main", shaA, "d1")
			e.Author = "drive-by"
			return e
		}, want: outcome{State: event.Dispatched}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, f, db := gated(t)
			f.files["main"], f.files[shaA], f.files[shaB] = tc.base, tc.head, tc.head
			f.members, f.groupErr = tc.members, tc.groupErr
			if tc.approve != "" {
				if err := db.RecordApproval(context.Background(), store.Approval{Provider: event.GitHub, Repo: "acme/web", MRNumber: 7, SHA: tc.approve, Approver: "maintainer", EventID: 1}); err != nil {
					t.Fatal(err)
				}
			}
			id := h.store.add(tc.ev())
			h.step(t)
			got := h.outcome(id)
			got.Attempts = 0
			if tc.want.State != event.Waiting && tc.want.State != event.Failed {
				got.Reason = "" // its run name or filter is tested elsewhere
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("event (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStatuses, f.statusLines()); diff != "" {
				t.Errorf("statuses (-want +got)\n%s", diff)
			}
			if n, want := len(h.runs(t)), map[bool]int{true: 1}[tc.want.State == event.Dispatched]; n != want {
				t.Errorf("%d PipelineRuns, want %d", n, want)
			}
		})
	}
}

// /ok-to-test by a maintainer builds that head SHA and only that one; by
// an outsider it is refused with a reply and builds nothing.
func TestOkToTest(t *testing.T) {
	h, f, db := gated(t)
	f.head = scm.MergeRequestHead{SHA: shaA, SourceBranch: "feature/x", TargetBranch: "main", Open: true}
	waiting := h.store.add(byAuthor("drive-by", shaA, "d1"))
	outsider := h.store.add(comment(event.OkToTest, 7, "drive-by", "d2"))
	h.step(t)
	if got := h.outcome(waiting).State; got != event.Waiting {
		t.Fatalf("the outsider's MR is %s, want waiting", got)
	}
	want := outcome{State: event.Ignored, Reason: "ok_to_test by drive-by refused: no write access, not a trusted user or group member", Attempts: 1}
	if diff := cmp.Diff(want, h.outcome(outsider)); diff != "" {
		t.Errorf("outsider's /ok-to-test (-want +got)\n%s", diff)
	}
	if len(f.comments) != 1 || !strings.Contains(f.comments[0], "@drive-by") || !strings.Contains(f.comments[0], "`/ok-to-test`") {
		t.Errorf("comments %q, want one refusal to drive-by", f.comments)
	}
	if n := len(h.runs(t)); n != 0 {
		t.Fatalf("%d PipelineRuns before approval, want 0", n)
	}

	ok := h.store.add(comment(event.OkToTest, 7, "maintainer", "d3"))
	h.step(t)
	if got := h.outcome(ok); got.State != event.Dispatched {
		t.Fatalf("maintainer's /ok-to-test: %+v, want dispatched", got)
	}
	prs := h.runs(t)
	if len(prs) != 1 || prs[0].Labels[tekton.LabelSHA] != shaA || prs[0].Annotations[tekton.AnnotationApprovedBy] != "maintainer" {
		t.Fatalf("runs %+v, want one for %s approved by maintainer", prs, shaA)
	}
	if who, err := db.Approver(context.Background(), event.GitHub, "acme/web", 7, shaA); err != nil || who != "maintainer" {
		t.Errorf("approval of %s: %q, %v; want maintainer", shaA, who, err)
	}

	// The same SHA redelivered as a new synchronize builds (approved);
	// a new push waits again.
	again := h.store.add(byAuthor("drive-by", shaA, "d4"))
	next := h.store.add(byAuthor("drive-by", shaB, "d5"))
	h.step(t)
	if got := h.outcome(again).State; got != event.Dispatched {
		t.Errorf("approved SHA again: %s, want dispatched", got)
	}
	if got := h.outcome(next); got.State != event.Waiting || got.Reason != waitingReason("drive-by", shaB, "") {
		t.Errorf("new push: %+v, want waiting", got)
	}

	// The outsider cannot /retest around the gate.
	f.head.SHA = shaB
	retest := h.store.add(comment(event.Retest, 7, "drive-by", "d6"))
	h.step(t)
	if got := h.outcome(retest).State; got != event.Ignored {
		t.Errorf("outsider's /retest: %s, want ignored", got)
	}
	if n := len(h.runs(t)); n != 2 {
		t.Errorf("%d PipelineRuns, want 2 (the approved SHA twice)", n)
	}
}

// A merge request that renames its app builds as the default branch's app;
// the head still chooses the test command.
func TestMergeRequestAppFromDefaultBranch(t *testing.T) {
	h, f, _ := gated(t)
	f.files["main"] = "app: web-main"
	f.files[shaA] = "app: payments\nbuild: {testCommand: make check}"
	h.store.add(byAuthor("maintainer", shaA, "d1"))
	h.step(t)
	prs := h.runs(t)
	if len(prs) != 1 {
		t.Fatalf("%d PipelineRuns, want 1", len(prs))
	}
	if got := prs[0].Labels[tekton.LabelApp]; got != "web-main" {
		t.Errorf("app %q, want the default branch's web-main", got)
	}
}

// The host's answer about write access is reused within the TTL only.
func TestTrustCache(t *testing.T) {
	h, f, _ := gated(t)
	for i, d := range []string{"d1", "d2"} {
		h.store.add(byAuthor("maintainer", []string{shaA, shaB}[i], d))
	}
	h.step(t)
	if got := f.canWriteCalls(); got != 1 {
		t.Errorf("%d CanWrite calls for two events, want 1 (cached)", got)
	}
	h.clock.Step(31 * time.Second)
	h.store.add(byAuthor("maintainer", shaA, "d3"))
	h.step(t)
	if got := f.canWriteCalls(); got != 2 {
		t.Errorf("%d CanWrite calls after the TTL, want 2", got)
	}
}

// The trust decision itself: who is trusted, which host questions it
// asks to know, and what a host error makes of it.
func TestTrusted(t *testing.T) {
	hostDown := &scm.TransientError{Err: errors.New("502 Bad Gateway")}
	core := map[string]map[string]bool{"acme/core": {"carol": true, "renovate[bot]": true}, "acme/release": {"rita": true}}
	for _, tc := range []struct {
		name      string
		trusted   repoconfig.Trusted
		user      string
		bot       bool
		groupErr  map[string]error
		want      bool
		wantErr   bool
		wantAsked []string // MemberOf calls, "group user"
	}{
		{name: "listed user, no host question", trusted: repoconfig.Trusted{Users: []string{"Dave"}, Groups: []string{"acme/core"}}, user: "dave", want: true},
		{name: "write access, no group question", trusted: repoconfig.Trusted{Groups: []string{"acme/core"}}, user: "maintainer", want: true},
		{name: "group member", trusted: repoconfig.Trusted{Groups: []string{"acme/core"}}, user: "carol", want: true,
			wantAsked: []string{"acme/core carol"}},
		{name: "member of the second group", trusted: repoconfig.Trusted{Groups: []string{"acme/core", "acme/release"}}, user: "rita", want: true,
			wantAsked: []string{"acme/core rita", "acme/release rita"}},
		{name: "first group answers, the second is not asked", trusted: repoconfig.Trusted{Groups: []string{"acme/core", "acme/release"}}, user: "carol", want: true,
			wantAsked: []string{"acme/core carol"}},
		{name: "group non-member", trusted: repoconfig.Trusted{Groups: []string{"acme/core", "acme/release"}}, user: "mallory",
			wantAsked: []string{"acme/core mallory", "acme/release mallory"}},
		{name: "no groups, no question", user: "carol"},
		{name: "bot in a trusted group", trusted: repoconfig.Trusted{Groups: []string{"acme/core"}}, user: "renovate[bot]", bot: true},
		{name: "bot listed by name", trusted: repoconfig.Trusted{Users: []string{"renovate[bot]"}, Groups: []string{"acme/core"}}, user: "renovate[bot]", bot: true, want: true},
		{name: "nobody", trusted: repoconfig.Trusted{Groups: []string{"acme/core"}}},
		{name: "host error", trusted: repoconfig.Trusted{Groups: []string{"acme/core"}}, user: "carol",
			groupErr: map[string]error{"acme/core": hostDown}, wantErr: true, wantAsked: []string{"acme/core carol"}},
		{name: "host error on one group, not a member of the other", trusted: repoconfig.Trusted{Groups: []string{"acme/core", "acme/release"}}, user: "mallory",
			groupErr: map[string]error{"acme/core": hostDown}, wantErr: true, wantAsked: []string{"acme/core mallory", "acme/release mallory"}},
		{name: "host error on one group, a member of the other", trusted: repoconfig.Trusted{Groups: []string{"acme/core", "acme/release"}}, user: "rita",
			groupErr: map[string]error{"acme/core": hostDown}, want: true, wantAsked: []string{"acme/core rita", "acme/release rita"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, f, _ := gated(t)
			f.members, f.groupErr = core, tc.groupErr
			ev := byAuthor(tc.user, shaA, "d1")
			got, err := h.d.trusted(context.Background(), &ev, &repoconfig.Config{Trusted: tc.trusted}, tc.user, tc.bot)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if ok, _ := scm.IsTransient(err); !ok || !strings.Contains(err.Error(), "trusted.groups of acme/web") {
					t.Errorf("err %v: want the host's transient error, naming the setting", err)
				}
			}
			if got != tc.want {
				t.Errorf("trusted = %v, want %v", got, tc.want)
			}
			if diff := cmp.Diff(tc.wantAsked, f.memberOfCalls()); diff != "" {
				t.Errorf("MemberOf calls (-want +got)\n%s", diff)
			}
		})
	}
}

// /ok-to-test from a member of a trusted group starts the waiting MR; from
// someone outside the group it is refused.
func TestOkToTestByGroupMember(t *testing.T) {
	h, f, _ := gated(t)
	f.files["main"] = "trusted: {groups: [acme/core]}"
	f.members = map[string]map[string]bool{"acme/core": {"carol": true}}
	f.head = scm.MergeRequestHead{SHA: shaA, SourceBranch: "feature/x", TargetBranch: "main", Open: true}
	waiting := h.store.add(byAuthor("drive-by", shaA, "d1"))
	outsider := h.store.add(comment(event.OkToTest, 7, "mallory", "d2"))
	h.step(t)
	if got := h.outcome(waiting); got.State != event.Waiting || !strings.Contains(got.Reason, "or members of acme/core") {
		t.Fatalf("the outsider's MR: %+v, want waiting for acme/core among others", got)
	}
	if got := h.outcome(outsider); got.State != event.Ignored {
		t.Errorf("a non-member's /ok-to-test: %+v, want ignored", got)
	}
	ok := h.store.add(comment(event.OkToTest, 7, "carol", "d3"))
	h.step(t)
	if got := h.outcome(ok); got.State != event.Dispatched {
		t.Fatalf("the group member's /ok-to-test: %+v, want dispatched", got)
	}
	prs := h.runs(t)
	if len(prs) != 1 || prs[0].Labels[tekton.LabelSHA] != shaA || prs[0].Annotations[tekton.AnnotationApprovedBy] != "carol" {
		t.Fatalf("runs %+v, want one for %s approved by carol", prs, shaA)
	}
}

// The host's answer about group membership is reused within the TTL only.
func TestTrustCacheGroups(t *testing.T) {
	h, f, _ := gated(t)
	f.files["main"] = "trusted: {groups: [acme/core]}"
	f.members = map[string]map[string]bool{"acme/core": {"carol": true}}
	h.store.add(byAuthor("carol", shaA, "d1"))
	h.store.add(byAuthor("Carol", shaB, "d2"))
	h.step(t)
	if got := len(f.memberOfCalls()); got != 1 {
		t.Errorf("%d MemberOf calls for two events, want 1 (cached)", got)
	}
	h.clock.Step(31 * time.Second)
	h.store.add(byAuthor("carol", shaA, "d3"))
	h.step(t)
	if got := len(f.memberOfCalls()); got != 2 {
		t.Errorf("%d MemberOf calls after the TTL, want 2", got)
	}
	if n := len(h.runs(t)); n != 3 {
		t.Errorf("%d PipelineRuns, want 3", n)
	}
}
