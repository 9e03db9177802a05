package server

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
	"github.com/slipway-ci/slipway/pkg/webhook"
)

func TestRecoveryLoops(t *testing.T) {
	st := storetest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"))
	hooks, err := webhook.New(st, webhook.WithGitLabToken("tok"), webhook.WithAllowedRepos([]string{"acme/*"}))
	if err != nil {
		t.Fatal(err)
	}
	in := recordingIntake{st}
	tests := []struct {
		name string
		cfg  config.Config
		want []string
	}{
		{name: "off by default", cfg: config.Config{GitHubRecoverHooks: "repo:acme/shop:1", GitHubToken: config.NewSecret("t")}},
		{name: "both", cfg: config.Config{RecoverInterval: time.Minute, RecoverWindow: time.Hour,
			GitHubRecoverHooks: "repo:acme/shop:1", GitHubToken: config.NewSecret("t"),
			GitLabRecoverProjects: []string{"acme/shop"}, GitLabToken: config.NewSecret("g")},
			want: []string{"recovery-github", "recovery-gitlab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := recoveryLoops(&tt.cfg, st, hooks, in, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for n := range got {
				names = append(names, n)
			}
			sort.Strings(names)
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("loops (-want +got):\n%s", diff)
			}
			for _, n := range names {
				if !contains(leaderLoops, n) {
					t.Errorf("%s is not a leader loop: every replica would ask the host", n)
				}
			}
		})
	}

	// A recovered event meets the webhook's allowlist.
	ai := admittedIntake{admit: hooks, in: in}
	ev := &event.Event{Provider: event.GitLab, Kind: event.Push, Action: event.Build, Delivery: "recovered-1",
		Repo: "other/app", Ref: "refs/heads/main", SHA: "3f786850e387550fdab836ed7e6dc881de23001b", Reason: "recovered"}
	if _, err := ai.Accept(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	evs, err := st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("ListEvents = %v, %v", evs, err)
	}
	if evs[0].State != event.Ignored {
		t.Errorf("a recovered event of a repository outside the allowlist is %s (%s), want ignored", evs[0].State, evs[0].Reason)
	}
}

type recordingIntake struct{ st *store.DB }

func (r recordingIntake) Accept(ctx context.Context, ev *event.Event) (event.Receipt, error) {
	id, dup, err := r.st.RecordEvent(ctx, ev)
	return event.Receipt{ID: id, Duplicate: dup}, err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
