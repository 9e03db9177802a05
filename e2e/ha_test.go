//go:build e2e

package e2e

// Highly available Slipway (issue 16): the stack deployed with HA=1
// (e2e/stack/slipway.sh: deploy/ha, two replicas on PostgreSQL, leader
// election on) and SLIPWAY_E2E_HA=1 in the tests' environment. Each test
// pushes commits whose unit test fails, so every run ends quickly in the
// test step with three statuses (pending, running, failure) and one chat
// notification, and checks that each was sent exactly once.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/e2e/framework"
)

// haPushes is how many commits each HA test pushes.
const haPushes = 20

func haStack(t *testing.T) *slipwayStack {
	t.Helper()
	if os.Getenv("SLIPWAY_E2E_HA") != "1" {
		t.Skip("SLIPWAY_E2E_HA is not 1: the stack runs one replica (HA=1 e2e/stack/slipway.sh up deploys the HA overlay)")
	}
	return slipway(t)
}

const haFailingTest = `package main

import "testing"

func TestBroken(t *testing.T) { t.Fatal("fails on purpose (HA e2e)") }
`

// haCommits makes a repository whose unit test fails and n commits on
// branches of their own, pushed to the fakescm.
func haCommits(t *testing.T, s *slipwayStack, prefix string, n int) (*gitRepo, []string) {
	t.Helper()
	repo, first := newRepo(t, s, prefix, map[string]string{"main_test.go": haFailingTest})
	shas := []string{first}
	for i := 1; i < n; i++ {
		shas = append(shas, repo.commit(t, fmt.Sprintf("b%d", i), fmt.Sprintf("change %d of %s", i, repo.Name),
			map[string]string{"CHANGES": fmt.Sprintf("%d\n", i)}))
	}
	return repo, shas
}

func (s *slipwayStack) pushAll(t *testing.T, repo *gitRepo, shas []string) {
	t.Helper()
	for i, sha := range shas {
		branch := "main"
		if i > 0 {
			branch = fmt.Sprintf("b%d", i)
		}
		mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, branch, zeroSHA, sha)))
	}
}

// checkOnce waits for every commit's failure status and chat message,
// then checks that each commit got each status and one message, once,
// and one PipelineRun.
func (s *slipwayStack) checkOnce(ctx context.Context, t *testing.T, repo *gitRepo, shas []string) {
	t.Helper()
	for _, sha := range shas {
		s.waitForStatus(ctx, t, repo.Name, sha, "failure")
	}
	chats := map[string]int{}
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		var msgs []fakescm.ChatMessage
		if err := s.fakeGet(ctx, "/_fake/chat", &msgs); err != nil {
			return false, nil
		}
		clear(chats)
		for _, m := range msgs {
			for _, sha := range shas {
				if strings.Contains(string(m.Body), sha) {
					chats[sha]++
				}
			}
		}
		return len(chats) == len(shas), nil
	})
	if err != nil {
		t.Fatalf("chat notifications: %d of %d commits have one: %v", len(chats), len(shas), err)
	}
	for _, sha := range shas {
		sts, err := s.statuses(ctx, repo.Name, sha)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, st := range sts {
			if st.Context == "slipway/ci" {
				count[slipwayState(st)]++
			}
		}
		for _, state := range []string{"pending", "running", "failure"} {
			if count[state] != 1 {
				t.Errorf("%s: %d %s statuses, want exactly 1 (all: %v)", sha[:8], count[state], state, count)
			}
		}
		if chats[sha] != 1 {
			t.Errorf("%s: %d chat notifications, want exactly 1", sha[:8], chats[sha])
		}
		if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 1 {
			t.Errorf("%s: %d PipelineRuns (err %v), want exactly 1", sha[:8], len(runs), err)
		}
	}
}

// Two replicas behind the Service: every status and notification once.
func TestHATwoReplicasSendOnce(t *testing.T) {
	s := haStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, shas := haCommits(t, s, "ha-once", haPushes)
	s.pushAll(t, repo, shas)
	s.checkOnce(ctx, t, repo, shas)
}

// The leader is SIGKILLed in the middle of a burst: another replica takes
// the lease, nothing is lost and nothing is sent twice.
func TestHALeaderKilledDuringBurst(t *testing.T) {
	s := haStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, shas := haCommits(t, s, "ha-kill", haPushes)
	half := len(shas) / 2
	s.pushAll(t, repo, shas[:half])

	leader := leaseHolder(ctx, t)
	pod, err := framework.Get(t).Kube.CoreV1().Pods("slipway").Get(ctx, leader, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the leader %q is not a Slipway pod: %v", leader, err)
	}
	killContainer(t, pod)
	s.pushAll(t, repo, shas[half:]) // the Service routes to the survivor
	if err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		return leaseHolder(ctx, t) != leader, nil
	}); err != nil {
		// The killed pod restarts and may win the lease back; it must at
		// least have been renewed by someone since.
		t.Logf("the lease stayed with %s (restarted): %v", leader, err)
	}
	s.checkOnce(ctx, t, repo, shas)
	framework.WaitForPod(ctx, t, "slipway", pod.Name, func(p *corev1.Pod) (bool, error) {
		ready, _ := framework.PodReady(p)
		return ready, nil
	})
}

// leaseHolder is the identity (pod name) holding Slipway's leader Lease.
func leaseHolder(ctx context.Context, t *testing.T) string {
	t.Helper()
	l, err := framework.Get(t).Kube.CoordinationV1().Leases("slipway").Get(ctx, "slipway-leader", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the leader Lease: %v", err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}
