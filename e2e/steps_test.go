//go:build e2e

package e2e

// .slipway.yaml's steps and services on the real pipeline: a Go app whose
// tests talk to a PostgreSQL service container (the stack's base/postgres,
// allowed by e2e/stack/slipway.sh's step-images), a step reading an
// allowed Secret, and what the platform does not allow failing the event.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// postgresTest speaks PostgreSQL's wire protocol itself (trust
// authentication), so the sample needs no module download.
const postgresTest = `package main

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// TestPostgres asks the PostgreSQL service beside the tests for 41 + 1.
func TestPostgres(t *testing.T) {
	const addr = "127.0.0.1:5432"
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("connecting to PostgreSQL at %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	send := func(typ byte, body []byte) {
		var msg []byte
		if typ != 0 {
			msg = append(msg, typ)
		}
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(body)+4))
		if _, err := conn.Write(append(msg, body...)); err != nil {
			t.Fatalf("writing to PostgreSQL: %v", err)
		}
	}
	read := func() (byte, []byte) {
		typ, err := r.ReadByte()
		if err != nil {
			t.Fatalf("reading from PostgreSQL: %v", err)
		}
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); err != nil || n < 4 {
			t.Fatalf("reading from PostgreSQL: length %d, %v", n, err)
		}
		p := make([]byte, n-4)
		if _, err := io.ReadFull(r, p); err != nil {
			t.Fatalf("reading from PostgreSQL: %v", err)
		}
		if typ == 'E' {
			t.Fatalf("PostgreSQL says: %q", p)
		}
		return typ, p
	}
	// The startup message: protocol 3.0, then user and database.
	startup := binary.BigEndian.AppendUint32(nil, 3<<16)
	for _, s := range []string{"user", "postgres", "database", "app", ""} {
		startup = append(append(startup, s...), 0)
	}
	send(0, startup)
	for {
		typ, p := read()
		if typ == 'R' && binary.BigEndian.Uint32(p) != 0 {
			t.Fatalf("PostgreSQL asks for authentication method %d; the service trusts", binary.BigEndian.Uint32(p))
		}
		if typ == 'Z' {
			break
		}
	}
	send('Q', append([]byte("SELECT 41 + 1"), 0))
	got := ""
	for {
		typ, p := read()
		if typ == 'D' && len(p) >= 6 {
			n := binary.BigEndian.Uint32(p[2:6])
			got = string(p[6 : 6+n])
		}
		if typ == 'Z' {
			break
		}
	}
	if got != "42" {
		t.Fatalf("SELECT 41 + 1 = %q, want 42", got)
	}
	t.Logf("PostgreSQL at %s answered SELECT 41 + 1 = %s", addr, got)
}
`

// stepSecret is the Secret e2e/stack/slipway.sh's step-secrets lets the
// e2e/steps-* repositories read.
const (
	stepSecret      = "e2e-step-secret"
	stepSecretValue = "e2e-step-secret-value"
)

// stepsConfig is the sample's .slipway.yaml: a before-tests step that
// reads the Secret (and says only its length), an after-tests step, and
// the PostgreSQL service when withService.
func stepsConfig(t *testing.T, withService bool) string {
	t.Helper()
	c := `steps:
  - name: secret-check
    script: |
      test "${#STEP_TOKEN}" -eq ` + fmt.Sprint(len(stepSecretValue)) + `
      echo "secret-check: the step reads its Secret (${#STEP_TOKEN} bytes)"
    env:
      - name: STEP_TOKEN
        secretRef: {name: ` + stepSecret + `, key: token}
  - name: after
    when: after-tests
    command: [go, version]
`
	if withService {
		c += `services:
  - name: db
    image: ` + framework.Registry + `/base/postgres:` + newestBaseTag(t, "postgres") + `
    env: [{name: POSTGRES_DB, value: app}]
    ports: [5432]
    readiness: {command: [pg_isready, -d, app]}
`
	}
	return c
}

// ensureStepSecret creates the Secret the steps read, once per stack.
func ensureStepSecret(ctx context.Context, t *testing.T) {
	t.Helper()
	_, err := framework.Get(t).Kube.CoreV1().Secrets(buildsNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: stepSecret},
		StringData: map[string]string{"token": stepSecretValue},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating Secret %s: %v", stepSecret, err)
	}
}

// A Go app whose tests connect to a PostgreSQL service container passes:
// the run embeds the unit-test task with the service as a sidecar, the
// before-tests step read its Secret, the after-tests step ran.
func TestStepsPostgresServicePasses(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	ensureStepSecret(ctx, t)
	repo, sha := newRepo(t, s, "steps-pg", map[string]string{"db_test.go": postgresTest, ".slipway.yaml": stepsConfig(t, true)})

	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha)))
	run := waitForRunOf(ctx, t, sha)
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
	s.waitForStatus(ctx, t, repo.Name, sha, "success")
	if pr.Spec.PipelineSpec == nil {
		t.Errorf("PipelineRun %s references %v: want the pipeline embedded", run, pr.Spec.PipelineRef)
	}

	tr := unitTestTaskRun(ctx, t, pr)
	if len(tr.Status.Sidecars) != 1 || tr.Status.Sidecars[0].Name != "db" {
		t.Errorf("unit-test sidecars %+v, want db", tr.Status.Sidecars)
	}
	for step, want := range map[string]string{
		"secret-check": "secret-check: the step reads its Secret (" + fmt.Sprint(len(stepSecretValue)) + " bytes)",
		"test":         "answered SELECT 41 + 1 = 42",
		"after":        "go version go",
	} {
		if log := stepLog(ctx, t, tr, step); !strings.Contains(log, want) {
			t.Errorf("step %s's log lacks %q:\n%s", step, want, log)
		}
	}
	if log := stepLog(ctx, t, tr, "secret-check"); strings.Contains(log, stepSecretValue) {
		t.Errorf("the Secret's value is in the step log:\n%s", log)
	}
}

// The same app with the service removed fails in the unit tests with the
// test's own error, in the step log, the test report and the run page;
// the after-tests step does not run.
func TestStepsWithoutServiceFailsWithTestError(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	ensureStepSecret(ctx, t)
	repo, sha := newRepo(t, s, "steps-nopg", map[string]string{"db_test.go": postgresTest, ".slipway.yaml": stepsConfig(t, false)})

	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha)))
	run := waitForRunOf(ctx, t, sha)
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunFailed)
	s.waitForStatus(ctx, t, repo.Name, sha, "failure")

	const own = "connecting to PostgreSQL at 127.0.0.1:5432: dial tcp 127.0.0.1:5432: connect: connection refused"
	tr := unitTestTaskRun(ctx, t, pr)
	if log := stepLog(ctx, t, tr, "test"); !strings.Contains(log, own) {
		t.Errorf("the test step's log lacks the test's own error %q:\n%s", own, log)
	}
	s.waitForFailedTest(ctx, t, run, "TestPostgres", own)
	for _, st := range tr.Status.Steps {
		if st.Name == "after" && st.Terminated != nil && st.Terminated.ExitCode == 0 && st.Terminated.Reason == "Completed" {
			t.Errorf("the after-tests step ran after failed tests: %+v", st.Terminated)
		}
	}
}

// A service image the platform does not allow fails the event before any
// PipelineRun, with the reason on the commit status and the event.
func TestStepsImageNotAllowedFailsEvent(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cfg := "services:\n  - {name: db, image: docker.io/library/postgres:16, ports: [5432]}\n"
	repo, sha := newRepo(t, s, "steps-denied", map[string]string{".slipway.yaml": cfg})

	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha)))
	sts := s.waitForStatus(ctx, t, repo.Name, sha, "failure")
	const reason = `.slipway.yaml: services[0] (db): image "docker.io/library/postgres:16" is not one the platform allows`
	found := false
	for _, st := range sts {
		found = found || st.Context == "slipway/ci" && st.State == "failure" && strings.HasPrefix(st.Description, reason)
	}
	if !found {
		t.Errorf("statuses %+v, want a failure starting %q", sts, reason)
	}
	evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return len(evs) > 0 && evs[0].State == "failed" })
	if !strings.HasPrefix(evs[0].Reason, reason) {
		t.Errorf("event reason %q, want it to start %q", evs[0].Reason, reason)
	}
	if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 0 {
		t.Errorf("%d PipelineRuns of %s (err %v), want none", len(runs), sha, err)
	}
}

// unitTestTaskRun is the finished run's unit-test TaskRun.
func unitTestTaskRun(ctx context.Context, t *testing.T, pr *pipelinev1.PipelineRun) *pipelinev1.TaskRun {
	t.Helper()
	for _, c := range pr.Status.ChildReferences {
		if c.PipelineTaskName != tekton.UnitTestPipelineTask {
			continue
		}
		tr, err := framework.Get(t).Tekton.TektonV1().TaskRuns(pr.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("TaskRun %s: %v", c.Name, err)
		}
		return tr
	}
	t.Fatalf("PipelineRun %s has no %s TaskRun", pr.Name, tekton.UnitTestPipelineTask)
	return nil
}

// stepLog is a step's container log from the TaskRun's pod.
func stepLog(ctx context.Context, t *testing.T, tr *pipelinev1.TaskRun, step string) string {
	t.Helper()
	out, err := framework.Get(t).Kube.CoreV1().Pods(tr.Namespace).GetLogs(tr.Status.PodName,
		&corev1.PodLogOptions{Container: "step-" + step}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("log of step %s in pod %s: %v", step, tr.Status.PodName, err)
	}
	return string(out)
}

// newestBaseTag is the newest tag of the stack's base/NAME image.
func newestBaseTag(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + framework.Registry + "/v2/base/" + name + "/tags/list")
	if err != nil {
		t.Fatalf("tags of base/%s: %v", name, err)
	}
	defer resp.Body.Close()
	var tags struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tags); err != nil {
		t.Fatalf("decoding the tags of base/%s: %v", name, err)
	}
	newest := ""
	for _, tag := range tags.Tags {
		if newest == "" || newerVersion(tag, newest) {
			newest = tag
		}
	}
	if newest == "" {
		t.Fatalf("the registry has no base/%s image (run e2e/stack/images.sh %s)", name, name)
	}
	return newest
}
