package faults

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metadatafake "k8s.io/client-go/metadata/fake"

	"github.com/slipway-ci/slipway/bench/intake"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

func testResult() Result {
	kill := Fault{Kind: KillLeader, Start: t0.Add(sec(60)), End: t0.Add(sec(60)), Target: "slipway-a", Detail: "container x of slipway-a (the leader)"}
	return Result{
		Run: "abc123", Start: t0, StreamEnd: t0.Add(sec(400)), DrainEnd: t0.Add(sec(430)), Drained: true,
		Config: Config{Namespace: "bench-faults", Sends: 100, Redeliveries: 5, RedeliverAfter: 10, Rate: 25, Replicas: 3, Repos: 8,
			Retries: 5, Faults: true, APIServerDown: 30 * time.Second, FaultGap: 20 * time.Second, Settle: time.Minute},
		Sends: 100, Distinct: 95,
		Totals: Counts{Sends: 100, Events: 95, Acked: 95, Runs: 95},
		ByKind: map[Kind]Counts{GitHubPush: {Sends: 25, Events: 24, Acked: 24, Runs: 24}, GitLabMR: {Sends: 25, Events: 24, Acked: 24, Runs: 24}},
		Faults: []Fault{kill, {Kind: PostgresRestart, Err: errors.New("not done: context canceled")}},
		Recoveries: []Recovery{
			{Fault: kill, Refused: 2, RefusedFor: sec(1.2), Leader: sec(16.1), LeaderOK: true, Holder: "slipway-b", Ready: sec(9), ReadyOK: true, Queue: sec(20), QueueOK: true, StatusesOK: false},
			{Fault: Fault{Kind: PostgresRestart, Err: errors.New("not done: context canceled")}},
		},
		Timeline: []Moment{{t0, "stream starts"}, {t0.Add(sec(60)), "leader SIGKILLed: container x of slipway-a (the leader)"}},
	}
}

func TestWriteSection(t *testing.T) {
	var b bytes.Buffer
	r := testResult()
	if err := WriteSection(&b, t0, intake.Machine{CPUs: 2, Commit: "abc"}, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"## Fault run: HA Slipway on PostgreSQL (local stack)",
		"| GitHub push | 25 | 24 | 24 | 0 | 0 | 24 | 0 | 0 | 0 | 0 | 0 / 0 | 0 / 0 | — |",
		"| GitLab merge request | 25 | 24 | 24 | 0 | 0 | 24 | 0 | 0 | 0 | 0 | 0 / 0 | 0 / 0 | 0 / 0 |",
		"| all | 100 | 95 | 95 |",
		"| 1 | leader SIGKILLed | 60.0 | 0.0 | 2 | 1.2 | 16.1 (slipway-b) | 9.0 | 20.0 | **never** |",
		"| 2 | PostgreSQL restarted | — | not done: context canceled |",
		"- +60.0 leader SIGKILLed: container x of slipway-a (the leader)",
		"**not met**: fault \"PostgreSQL restarted\" failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q:\n%s", want, out)
		}
	}
	r.Faults, r.Recoveries = r.Faults[:1], r.Recoveries[:1]
	b.Reset()
	if err := WriteSection(&b, t0, intake.Machine{}, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "every run reported and notified once): met.") {
		t.Errorf("a clean run is not met:\n%s", b.String())
	}
	r.Totals.Lost = 3
	b.Reset()
	if err := WriteSection(&b, t0, intake.Machine{}, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| **3** |") || !strings.Contains(b.String(), "**not met**: 3 acknowledged events without a PipelineRun (lost)") {
		t.Errorf("a loss is not shown:\n%s", b.String())
	}
	if r.OK() {
		t.Error("OK with a loss")
	}
}

func TestRunWatchKeepsRunsBySHA(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	created := metav1.NewTime(t0)
	pr := func(name, sha string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{
			TypeMeta: metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "PipelineRun"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench-faults", CreationTimestamp: created,
				Labels: map[string]string{tekton.LabelSHA: sha}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "slipway"}}},
		}
	}
	mc := metadatafake.NewSimpleMetadataClient(scheme, pr("a", "s1"), pr("b", "s1"), pr("c", "s2"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := WatchRuns(ctx, mc, "bench-faults")
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, 10*time.Second, "sync", func(context.Context) (bool, error) { return w.Synced(), nil }); err != nil {
		t.Fatal(err)
	}
	runs := w.Runs()
	if len(runs["s1"]) != 2 || len(runs["s2"]) != 1 || !runs["s2"][0].Created.Equal(t0) || runs["s2"][0].Name != "bench-faults/c" {
		t.Errorf("Runs = %+v", runs)
	}
}
