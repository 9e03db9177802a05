package faults

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
)

func testPlanConfig(t *testing.T, sends, redeliveries int) PlanConfig {
	t.Helper()
	repos, err := NewRepos("abc123", 3)
	if err != nil {
		t.Fatal(err)
	}
	return PlanConfig{Run: "abc123", Sends: sends, Redeliveries: redeliveries, RedeliverAfter: 5, Repos: repos,
		FakeSCM: "http://10.244.0.1:8929", GitHubSecret: []byte("s3cret"), GitLabToken: "t0ken"}
}

var deliveryID = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// Every event is a webhook Slipway's own parsers read as the build the
// bench means: the right kind, repository, SHA, request number and the
// clone URL Slipway pins on the stack; signed or tokened as the hosts do.
func TestPlanEventsAreTheWebhooksSlipwayParses(t *testing.T) {
	cfg := testPlanConfig(t, 40, 4)
	plan, err := Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	seenSHA, seenDelivery := map[string]bool{}, map[string]bool{}
	kinds := map[Kind]int{}
	for _, s := range plan {
		if s.Redelivery {
			continue
		}
		ev := s.Event
		kinds[ev.Kind]++
		if seenSHA[ev.SHA] || seenDelivery[ev.Delivery] {
			t.Errorf("event %d repeats a SHA or delivery id", ev.Index)
		}
		seenSHA[ev.SHA], seenDelivery[ev.Delivery] = true, true
		if !deliveryID.MatchString(ev.Delivery) {
			t.Errorf("event %d: delivery id %q is not one Slipway takes", ev.Index, ev.Delivery)
		}
		if !strings.HasPrefix(ev.Repo, Prefix("abc123")) {
			t.Errorf("event %d: repository %q lacks the run's prefix", ev.Index, ev.Repo)
		}
		var got *event.Event
		switch ev.Kind.Provider() {
		case "github":
			if err := github.VerifySignature(cfg.GitHubSecret, ev.Body, ev.Headers[github.SignatureHeader]); err != nil {
				t.Errorf("event %d: signature: %v", ev.Index, err)
			}
			got, err = github.ParseWebhook(ev.Headers[github.EventHeader], ev.Headers[github.DeliveryHeader], ev.Body)
		default:
			if ev.Headers["X-Gitlab-Token"] != cfg.GitLabToken {
				t.Errorf("event %d: token header %q", ev.Index, ev.Headers["X-Gitlab-Token"])
			}
			got, err = gitlab.ParseWebhook(ev.Headers[gitlab.EventHeader], ev.Headers[gitlab.DeliveryHeader], ev.Body)
		}
		if err != nil {
			t.Fatalf("event %d (%s): %v", ev.Index, ev.Kind, err)
		}
		wantKind := event.Push
		if ev.Kind.MR() {
			wantKind = event.MergeRequest
		}
		type view struct {
			Kind              event.Kind
			Action            event.Action
			Repo, SHA, Clone  string
			Delivery, Author  string
			MR                int
			ProjectID         int64
			HasCommitMessage  bool
			CommitMessageSkip bool
		}
		want := view{Kind: wantKind, Action: event.Build, Repo: ev.Repo, SHA: ev.SHA, Clone: cfg.FakeSCM + "/git/" + ev.Repo + ".git",
			Delivery: ev.Delivery, Author: Author, MR: ev.MR, HasCommitMessage: ev.Kind != GitHubPR}
		if ev.Kind.Provider() == "gitlab" {
			for _, p := range cfg.Repos.GitLab {
				if p.Path == ev.Repo {
					want.ProjectID = p.ID
				}
			}
		}
		gotView := view{Kind: got.Kind, Action: got.Action, Repo: got.Repo, SHA: got.SHA, Clone: got.CloneURL,
			Delivery: got.Delivery, Author: got.Author, MR: got.MRNumber, ProjectID: got.ProjectID,
			HasCommitMessage: got.CommitMessage != "", CommitMessageSkip: strings.Contains(got.CommitMessage, "skip")}
		if diff := cmp.Diff(want, gotView); diff != "" {
			t.Errorf("event %d (%s) parsed (-want +got)\n%s", ev.Index, ev.Kind, diff)
		}
	}
	if diff := cmp.Diff(map[Kind]int{GitHubPush: 9, GitHubPR: 9, GitLabPush: 9, GitLabMR: 9}, kinds); diff != "" {
		t.Errorf("events per kind (-want +got)\n%s", diff)
	}
}

// Redeliveries repeat an earlier event (the same delivery), after it.
func TestPlanRedeliversAfterTheOriginal(t *testing.T) {
	plan, err := Plan(testPlanConfig(t, 100, 10))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 100 {
		t.Fatalf("%d sends, want 100", len(plan))
	}
	first := map[*Event]int{}
	redeliveries := 0
	for i, s := range plan {
		if !s.Redelivery {
			if _, dup := first[s.Event]; dup {
				t.Errorf("event %d sent twice as an original", s.Event.Index)
			}
			first[s.Event] = i
			continue
		}
		redeliveries++
		at, ok := first[s.Event]
		if !ok || at >= i {
			t.Errorf("send %d redelivers event %d before its original", i, s.Event.Index)
		}
	}
	if redeliveries != 10 || len(first) != 90 {
		t.Errorf("%d redeliveries of %d events, want 10 of 90", redeliveries, len(first))
	}
}

func TestPlanRejectsBadConfig(t *testing.T) {
	for name, mutate := range map[string]func(*PlanConfig){
		"no sends":              func(c *PlanConfig) { c.Sends = 0 },
		"all redeliveries":      func(c *PlanConfig) { c.Redeliveries = c.Sends },
		"negative redeliveries": func(c *PlanConfig) { c.Redeliveries = -1 },
		"redeliver at once":     func(c *PlanConfig) { c.RedeliverAfter = 0 },
		"no GitLab repository":  func(c *PlanConfig) { c.Repos.GitLab = nil },
		"no secret":             func(c *PlanConfig) { c.GitHubSecret = nil },
		"no token":              func(c *PlanConfig) { c.GitLabToken = "" },
		"no fakescm":            func(c *PlanConfig) { c.FakeSCM = "" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testPlanConfig(t, 10, 1)
			mutate(&cfg)
			if _, err := Plan(cfg); err == nil {
				t.Error("Plan accepted it")
			}
		})
	}
}

func TestNewRepos(t *testing.T) {
	r, err := NewRepos("00000a", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := Repos{
		GitHub: []string{"e2e/faults-00000a-gh0", "e2e/faults-00000a-gh1"},
		GitLab: []Project{{ID: 10_000_640, Path: "e2e/faults-00000a-gl0"}, {ID: 10_000_641, Path: "e2e/faults-00000a-gl1"}},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("NewRepos (-want +got)\n%s", diff)
	}
	for _, bad := range []struct {
		run string
		n   int
	}{{"xyz", 2}, {"1234567", 2}, {"abc", 0}, {"abc", 65}} {
		if _, err := NewRepos(bad.run, bad.n); err == nil {
			t.Errorf("NewRepos(%q, %d) accepted", bad.run, bad.n)
		}
	}
}
