package faults

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// The repository's root, where deploy/ and e2e/stack are.
const repoRoot = "../.."

// The bench's namespace gets what deploy/base grants Slipway in its
// builds namespace, the pipelines' account and the failing Pipeline; an
// earlier run's namespace goes first.
func TestPrepareNamespace(t *testing.T) {
	kc := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-faults"}})
	tc := tektonfake.NewSimpleClientset()
	s := &Stack{Root: repoRoot, Kube: kc, Tekton: tc, Logf: t.Logf}
	ctx := context.Background()
	if err := s.PrepareNamespace(ctx, "bench-faults"); err != nil {
		t.Fatal(err)
	}
	role, err := kc.RbacV1().Roles("bench-faults").Get(ctx, "slipway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := builderRules(filepath.Join(repoRoot, "deploy", "base", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || !hasRule(want, "tekton.dev", "pipelineruns", "create") {
		t.Fatalf("deploy/base's builds Role read as %+v", want)
	}
	if diff := cmp.Diff(want, role.Rules); diff != "" {
		t.Errorf("Role rules (-want +got)\n%s", diff)
	}
	rb, err := kc.RbacV1().RoleBindings("bench-faults").Get(ctx, "slipway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]rbacv1.Subject{{Kind: "ServiceAccount", Name: "slipway", Namespace: "slipway"}}, rb.Subjects); diff != "" {
		t.Errorf("RoleBinding subjects (-want +got)\n%s", diff)
	}
	if _, err := kc.CoreV1().ServiceAccounts("bench-faults").Get(ctx, PipelineAccount, metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	p, err := tc.TektonV1().Pipelines("bench-faults").Get(ctx, tekton.CIPipeline, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.Params) == 0 || p.Spec.Params[0].Default != nil {
		t.Errorf("the bench Pipeline has no required parameter: %+v", p.Spec.Params)
	}
}

func hasRule(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if contains(r.APIGroups, group) && contains(r.Resources, resource) && contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Register gives the author write access on both hosts and maps the
// GitLab ids, as the real fakescm then answers; ReadFakeSCM reads back
// what it recorded.
func TestRegisterAndReadFakeSCM(t *testing.T) {
	fs := fakescm.New(t.TempDir())
	srv := httptest.NewServer(fs.Handler())
	defer srv.Close()
	repos, err := NewRepos("0000ff", 1)
	if err != nil {
		t.Fatal(err)
	}
	s := &Stack{HTTP: srv.Client(), Logf: t.Logf}
	ctx := context.Background()
	if err := s.Register(ctx, srv.URL, repos); err != nil {
		t.Fatal(err)
	}
	get := func(path string) int {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/github/api/v3/repos/" + repos.GitHub[0] + "/collaborators/" + Author + "/permission"); code != http.StatusOK {
		t.Errorf("GitHub permission of the author: HTTP %d", code)
	}
	gl := repos.GitLab[0]
	post := func(path, body string) {
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: HTTP %d", path, resp.StatusCode)
		}
	}
	sha := strings.Repeat("ab", 20)
	post("/gitlab/api/v4/projects/"+strconv.FormatInt(gl.ID, 10)+"/statuses/"+sha, `{"state": "failed", "name": "slipway/ci"}`)
	post("/github/api/v3/repos/"+repos.GitHub[0]+"/statuses/"+sha, `{"state": "failure", "context": "slipway/ci"}`)
	post("/github/api/v3/repos/other/repo/statuses/"+sha, `{"state": "failure", "context": "slipway/ci"}`)
	post("/_fake/chat/team", `{"run": "ns/r", "repo": "e2e/x"}`)
	rec, err := ReadFakeSCM(ctx, srv.Client(), srv.URL, repos)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range rec.Statuses {
		got = append(got, st.Provider+" "+st.Repo+" "+st.State)
	}
	want := []string{"github " + repos.GitHub[0] + " failure", "gitlab " + gl.Path + " failed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses of the bench's repositories (-want +got)\n%s", diff)
	}
	if len(rec.Chats) != 1 {
		t.Errorf("chats = %+v", rec.Chats)
	}
}

// fakeScripts makes ROOT/e2e/stack/NAME scripts that print their
// arguments and the settings Deploy passes, as slipway.sh up's export
// lines would carry them, and a webhook secret and token.
func fakeScripts(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "e2e", "stack")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"gh": "s3cret\n", "gl": "t0ken\n"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script := `#!/bin/sh
echo "export SLIPWAY_URL=http://10.96.80.80"
echo "export SLIPWAY_FAKESCM_URL=http://10.244.0.1:8929"
echo "export SLIPWAY_GITHUB_WEBHOOK_SECRET_FILE=` + filepath.Join(root, "gh") + `"
echo "export SLIPWAY_GITLAB_WEBHOOK_TOKEN_FILE=` + filepath.Join(root, "gl") + `"
echo "args=$*"
echo "HA=$HA replicas=${HA_REPLICAS:-}"
printf 'extra=%s\n' "$STACK_CONFIG_EXTRA" | tr '\n' ';'
echo
`
	if err := os.WriteFile(filepath.Join(dir, "slipway.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestDeployPassesHAAndSettings(t *testing.T) {
	s := &Stack{Root: fakeScripts(t), Logf: t.Logf}
	env, err := s.Deploy(context.Background(), true, 3, []string{"SLIPWAY_NAMESPACE=bench-faults", "SLIPWAY_PRUNE_KEEP=0"})
	if err != nil {
		t.Fatal(err)
	}
	want := SlipwayEnv{URL: "http://10.96.80.80", FakeSCM: "http://10.244.0.1:8929", GitHubSecret: []byte("s3cret"), GitLabToken: "t0ken"}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("Deploy env (-want +got)\n%s", diff)
	}
	out, err := s.Script(context.Background(), []string{"HA=1", "HA_REPLICAS=3", "STACK_CONFIG_EXTRA=SLIPWAY_A=1\nSLIPWAY_B=2"}, "slipway.sh", "up")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"args=up", "HA=1 replicas=3", "extra=SLIPWAY_A=1;SLIPWAY_B=2;"} {
		if !strings.Contains(string(out), line) {
			t.Errorf("script output lacks %q:\n%s", line, out)
		}
	}
	if _, err := s.Script(context.Background(), nil, "missing.sh"); err == nil {
		t.Error("a missing script ran")
	}
}

// KillLeader SIGKILLs the Lease holder's slipway container through
// containerd (a ctr on PATH that records its arguments here).
func TestKillLeader(t *testing.T) {
	bin := t.TempDir()
	args := filepath.Join(bin, "args")
	if err := os.WriteFile(filepath.Join(bin, "ctr"), []byte("#!/bin/sh\necho \"$@\" >"+args+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	holder := "slipway-b"
	kc := fake.NewClientset(
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LeaderLease, Namespace: SlipwayNamespace}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "slipway-b", Namespace: SlipwayNamespace},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "slipway", RestartCount: 2,
				ContainerID: "containerd://0123456789abcdef", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}},
	)
	s := &Stack{Kube: kc, Socket: "/run/c.sock", Logf: t.Logf}
	pod, restarts, detail, err := s.Injector().KillLeader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pod != "slipway-b" || restarts != 2 || !strings.Contains(detail, "0123456789ab") {
		t.Errorf("KillLeader = %s, %d, %q", pod, restarts, detail)
	}
	got, err := os.ReadFile(args)
	if err != nil {
		t.Fatal(err)
	}
	if want := "--address /run/c.sock -n k8s.io task kill -s SIGKILL 0123456789abcdef\n"; string(got) != want {
		t.Errorf("ctr %s, want %s", got, want)
	}
}
