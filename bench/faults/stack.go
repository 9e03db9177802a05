package faults

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/bench/dispatch"
	"github.com/slipway-ci/slipway/pkg/retry"
)

// Names on the stack (deploy/, deploy/ha, e2e/stack/slipway.sh).
const (
	SlipwayNamespace = "slipway"
	Deployment       = "slipway"
	LeaderLease      = "slipway-leader"
	PodSelector      = "app.kubernetes.io/name=slipway"
	// BuildsNamespace is where the stack's Slipway makes CI runs; the
	// bench copies its Role from there into its own builds namespace.
	BuildsNamespace = "slipway-builds"
	// PipelineAccount is the PipelineRuns' service account (deploy/base).
	PipelineAccount = "slipway-pipeline"
)

// Stack is the local stack as the bench drives it: its scripts, clients
// and the fakescm.
type Stack struct {
	Root   string // the checkout: e2e/stack/*.sh are under it
	Kube   kubernetes.Interface
	Tekton versioned.Interface
	Meta   metadata.Interface
	HTTP   *http.Client // the fakescm's reads
	// Socket is containerd's, for killing a container as the OOM killer
	// would (the e2e tests' killContainer does the same).
	Socket string
	Logf   func(format string, args ...any)
	// Stderr gets the scripts' progress; nil: os.Stderr.
	Stderr io.Writer
}

// SlipwayEnv is how slipway.sh up says Slipway is reached, and the
// webhook secrets it reads.
type SlipwayEnv struct {
	URL, FakeSCM string
	GitHubSecret []byte
	GitLabToken  string
}

// Deploy runs slipway.sh up: with ha, deploy/ha with replicas replicas on
// the stack's PostgreSQL; extra are SLIPWAY_*=VALUE settings over the
// stack's (STACK_CONFIG_EXTRA). Without ha and extra it is the stack's
// default deployment again.
func (s *Stack) Deploy(ctx context.Context, ha bool, replicas int, extra []string) (SlipwayEnv, error) {
	env := []string{"HA=0", "STACK_CONFIG_EXTRA=" + strings.Join(extra, "\n")}
	if ha {
		env = []string{"HA=1", fmt.Sprintf("HA_REPLICAS=%d", replicas), "STACK_CONFIG_EXTRA=" + strings.Join(extra, "\n")}
	}
	out, err := s.Script(ctx, env, "slipway.sh", "up")
	if err != nil {
		return SlipwayEnv{}, err
	}
	return parseSlipwayEnv(out)
}

func parseSlipwayEnv(out []byte) (SlipwayEnv, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
			vars[k] = v
		}
	}
	e := SlipwayEnv{URL: vars["SLIPWAY_URL"], FakeSCM: vars["SLIPWAY_FAKESCM_URL"]}
	ghFile, glFile := vars["SLIPWAY_GITHUB_WEBHOOK_SECRET_FILE"], vars["SLIPWAY_GITLAB_WEBHOOK_TOKEN_FILE"]
	if e.URL == "" || e.FakeSCM == "" || ghFile == "" || glFile == "" {
		return e, fmt.Errorf("slipway.sh up printed no SLIPWAY_URL, SLIPWAY_FAKESCM_URL or webhook secret files:\n%s", out)
	}
	gh, err := os.ReadFile(ghFile)
	if err != nil {
		return e, fmt.Errorf("the GitHub webhook secret: %w", err)
	}
	gl, err := os.ReadFile(glFile)
	if err != nil {
		return e, fmt.Errorf("the GitLab webhook token: %w", err)
	}
	e.GitHubSecret, e.GitLabToken = bytes.TrimSpace(gh), strings.TrimSpace(string(gl))
	return e, nil
}

// Script runs e2e/stack/NAME with args and env over the bench's own, and
// returns its stdout; its stderr is the bench's.
func (s *Stack) Script(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	path := filepath.Join(s.Root, "e2e", "stack", name)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = s.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), err)
	}
	return out.Bytes(), nil
}

// PrepareNamespace makes ns afresh as a builds namespace Slipway can use
// without installing its pipelines: the Role Slipway has in the stack's
// builds namespace, bound to its account; the pipelines' service account;
// and a slipway-ci Pipeline every run fails validation against, so Tekton
// fails each run at once and no pod starts (bench/dispatch's).
func (s *Stack) PrepareNamespace(ctx context.Context, ns string) error {
	if err := s.DeleteNamespace(ctx, ns, true); err != nil {
		return err
	}
	rules, err := builderRules(filepath.Join(s.Root, "deploy", "base", "rbac.yaml"))
	if err != nil {
		return err
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"slipway.dev/bench": "faults"}}
	}
	if _, err := s.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{"slipway.dev/bench": "faults"}}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	if _, err := s.Kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta("slipway"), Rules: rules}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Slipway's Role in %s: %w", ns, err)
	}
	if _, err := s.Kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta("slipway"),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "slipway"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "slipway", Namespace: SlipwayNamespace}},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("binding Slipway's Role in %s: %w", ns, err)
	}
	no := false
	if _, err := s.Kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta(PipelineAccount),
		AutomountServiceAccountToken: &no}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating %s in %s: %w", PipelineAccount, ns, err)
	}
	return dispatch.FailingPipeline(ctx, s.Tekton, ns)
}

// builderRules are the rules of the Role deploy/base gives Slipway in its
// builds namespace, read from the manifest so the bench's namespace grants
// what a real one does, no more.
func builderRules(path string) ([]rbacv1.PolicyRule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading Slipway's RBAC: %w", err)
	}
	for doc := range strings.SplitSeq(string(data), "\n---") {
		var r rbacv1.Role
		if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if r.Kind == "Role" && r.Name == "slipway" && r.Namespace == BuildsNamespace {
			return r.Rules, nil
		}
	}
	return nil, fmt.Errorf("%s has no Role slipway in %s", path, BuildsNamespace)
}

// DeleteNamespace deletes ns if it is there, and with wait waits (up to
// 10 min: thousands of runs go with it) until it is gone.
func (s *Stack) DeleteNamespace(ctx context.Context, ns string, wait bool) error {
	err := s.Kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting namespace %s: %w", ns, err)
	}
	if !wait {
		return nil
	}
	s.Logf("waiting for the namespace %s of an earlier run to go", ns)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for {
		_, err := s.Kube.CoreV1().Namespaces().Get(wctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if !sleepUntil(wctx, time.Now().Add(time.Second)) {
			return fmt.Errorf("namespace %s still there: %w", ns, wctx.Err())
		}
	}
}

// Register gives the bench's author write access to every repository
// (the trust gate builds its requests) and maps the GitLab projects' ids,
// which statuses and comments are posted to.
func (s *Stack) Register(ctx context.Context, fakeSCM string, repos Repos) error {
	post := func(path, body string) error {
		return withRetry(ctx, "POST "+path, func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, fakeSCM+path, strings.NewReader(body))
			if err != nil {
				return retry.Terminal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.HTTP.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			msg, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusNoContent {
				return retry.Terminal(fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg))
			}
			return nil
		})
	}
	names := append([]string(nil), repos.GitHub...)
	for _, p := range repos.GitLab {
		names = append(names, p.Path)
		if err := post("/_fake/gitlab/projects", fmt.Sprintf(`{"id": %d, "path": %q}`, p.ID, p.Path)); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := post("/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": %q, "level": "write"}`, n, Author)); err != nil {
			return err
		}
	}
	return nil
}

// Injector is the stack's: containerd kills the leader's container,
// slipway.sh stops and starts the apiserver by its PID file, postgres.sh
// restarts PostgreSQL.
func (s *Stack) Injector() Injector { return stackInjector{s} }

type stackInjector struct{ s *Stack }

func (i stackInjector) KillLeader(ctx context.Context) (string, int32, string, error) {
	s := i.s
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var pod *corev1.Pod
	err := withRetry(rctx, "finding the leader", func(ctx context.Context) error {
		l, err := s.Kube.CoordinationV1().Leases(SlipwayNamespace).Get(ctx, LeaderLease, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return retry.Transient(errors.New("no replica holds the Lease"))
		}
		p, err := s.Kube.CoreV1().Pods(SlipwayNamespace).Get(ctx, *l.Spec.HolderIdentity, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return retry.Transient(fmt.Errorf("the Lease's holder %s is not a pod (yet)", *l.Spec.HolderIdentity))
			}
			return err
		}
		if containerID(p) == "" {
			return retry.Transient(fmt.Errorf("pod %s has no running slipway container", p.Name))
		}
		pod = p
		return nil
	})
	if err != nil {
		return "", 0, "", err
	}
	id := containerID(pod)
	out, err := exec.CommandContext(ctx, "ctr", "--address", s.Socket, "-n", "k8s.io", "task", "kill", "-s", "SIGKILL", id).CombinedOutput()
	if err != nil {
		return pod.Name, restarts(pod), "", fmt.Errorf("ctr task kill %s: %w: %s", id, err, out)
	}
	return pod.Name, restarts(pod), fmt.Sprintf("container %.12s of %s (the leader)", id, pod.Name), nil
}

func containerID(p *corev1.Pod) string {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == "slipway" && c.State.Running != nil {
			return strings.TrimPrefix(c.ContainerID, "containerd://")
		}
	}
	return ""
}

func (i stackInjector) StopAPIServer(ctx context.Context) error {
	_, err := i.s.Script(ctx, nil, "slipway.sh", "apiserver-stop")
	return err
}

func (i stackInjector) StartAPIServer(ctx context.Context) error {
	_, err := i.s.Script(ctx, nil, "slipway.sh", "apiserver-start")
	return err
}

func (i stackInjector) RestartPostgres(ctx context.Context) error {
	_, err := i.s.Script(ctx, nil, "postgres.sh", "restart")
	return err
}
