package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// fakeSlipway answers signed pushes as Slipway on the stack does, as far
// as the bench sees: commit statuses on the fakescm and a PipelineRun with
// its TaskRuns and pod, all stamped now.
type fakeSlipway struct {
	t       *testing.T
	secret  []byte
	scm     string
	tc      *tektonfake.Clientset
	kc      *kubefake.Clientset
	final   string // the last status's state
	mu      sync.Mutex
	befores []string // each push's "before", in order
	afters  []string
	repos   string   // the fakescm's bare repositories
	goMods  []string // each pushed commit's go.mod
	parents []string // each pushed commit's parent on the git host ("" for the first)
}

func (f *fakeSlipway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path != "/hooks/github" || github.VerifySignature(f.secret, body, r.Header.Get(github.SignatureHeader)) != nil ||
		r.Header.Get(github.EventHeader) != "push" || r.Header.Get(github.DeliveryHeader) == "" {
		http.Error(w, "bad delivery", http.StatusUnauthorized)
		return
	}
	var in struct {
		Before, After string
		Repository    struct {
			FullName string `json:"full_name"`
		}
	}
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.befores = append(f.befores, in.Before)
	f.afters = append(f.afters, in.After)
	goMod, _ := gitOutput(r.Context(), "", "--git-dir", filepath.Join(f.repos, in.Repository.FullName+".git"), "show", in.After+":go.mod")
	f.goMods = append(f.goMods, goMod)
	parent, _ := gitOutput(r.Context(), "", "--git-dir", filepath.Join(f.repos, in.Repository.FullName+".git"), "rev-parse", "-q", "--verify", in.After+"^")
	f.parents = append(f.parents, strings.TrimSpace(parent))
	f.mu.Unlock()
	ctx := r.Context()
	now := func() metav1.Time { return metav1.NewTime(time.Now()) }
	f.post(in.Repository.FullName, in.After, "pending", "Queued")
	pr := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Name: "run-" + in.After[:8], Namespace: BuildsNamespace,
		CreationTimestamp: now(), Labels: map[string]string{tekton.LabelSHA: in.After}}}
	if _, err := f.tc.TektonV1().PipelineRuns(BuildsNamespace).Create(ctx, pr, metav1.CreateOptions{}); err != nil {
		f.t.Errorf("creating the PipelineRun: %v", err)
	}
	pod := scheduledPod(0)
	pod.Name, pod.Namespace, pod.Labels = pr.Name+"-clone-pod", BuildsNamespace, map[string]string{labelPipelineRun: pr.Name}
	pod.Status.Conditions[1].LastTransitionTime = now()
	if _, err := f.kc.CoreV1().Pods(BuildsNamespace).Create(ctx, &pod, metav1.CreateOptions{}); err != nil {
		f.t.Errorf("creating the pod: %v", err)
	}
	f.post(in.Repository.FullName, in.After, "pending", "Running")
	for _, tr := range []pipelinev1.TaskRun{
		taskRunOf(cloneTask, []pipelinev1.StepState{terminated(cloneStep, 0, 0)}, nil, corev1.ConditionTrue),
		taskRunOf(testTask, []pipelinev1.StepState{terminated(testStep, 0, 0)}, nil, corev1.ConditionTrue),
		taskRunOf(buildTask, nil, nil, corev1.ConditionTrue),
	} {
		tr.Name, tr.Namespace, tr.Labels[labelPipelineRun] = pr.Name+"-"+tr.Labels[labelPipelineTask], BuildsNamespace, pr.Name
		for i := range tr.Status.Steps {
			tr.Status.Steps[i].Terminated.StartedAt = now()
		}
		done := now()
		tr.Status.CompletionTime = &done
		if _, err := f.tc.TektonV1().TaskRuns(BuildsNamespace).Create(ctx, &tr, metav1.CreateOptions{}); err != nil {
			f.t.Errorf("creating a TaskRun: %v", err)
		}
	}
	f.post(in.Repository.FullName, in.After, f.final, "Done")
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeSlipway) post(repo, sha, state, desc string) {
	b, _ := json.Marshal(map[string]string{"state": state, "context": statusContext, "description": desc})
	resp, err := http.Post(f.scm+"/github/api/v3/repos/"+repo+"/statuses/"+sha, "application/json", bytes.NewReader(b))
	if err != nil {
		f.t.Errorf("posting a status: %v", err)
		return
	}
	resp.Body.Close()
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git work tree: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Run against a fake stack: every push is a new commit on main of one
// repository, announced with the previous push's SHA as before; the Go
// sample's go.mod names the registry's newest Go; each push's timeline has
// every phase; a run that ends red stops the bench with the status.
func TestRun(t *testing.T) {
	root := repoRoot(t)
	tests := []struct {
		name    string
		sample  string
		final   string
		secret  string
		wantErr string
	}{
		{name: "go, green", sample: "go", final: "success"},
		{name: "python, green", sample: "python", final: "success"},
		{name: "a failed run stops the bench", sample: "go", final: "failure", wantErr: "the run ended failure: Done"},
		{name: "a refused webhook stops the bench", sample: "node", final: "success", secret: "wrong", wantErr: "webhook answered 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repos := t.TempDir()
			scm := httptest.NewServer(fakescm.New(repos).Handler())
			defer scm.Close()
			registry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v2/base/golang/tags/list" {
					http.NotFound(w, r)
					return
				}
				fmt.Fprint(w, `{"name": "base/golang", "tags": ["1.9", "1.26", "1.25"]}`)
			}))
			defer registry.Close()
			sw := &fakeSlipway{t: t, secret: []byte("s3cret"), scm: scm.URL, tc: tektonfake.NewSimpleClientset(), kc: kubefake.NewClientset(), final: tt.final, repos: repos}
			slipway := httptest.NewServer(sw)
			defer slipway.Close()
			secret := tt.secret
			if secret == "" {
				secret = string(sw.secret)
			}
			secretFile := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"SLIPWAY_URL": slipway.URL, "SLIPWAY_FAKESCM_URL": scm.URL, "SLIPWAY_REPOS_DIR": repos,
				"REGISTRY": strings.TrimPrefix(registry.URL, "http://"), "SLIPWAY_GITHUB_WEBHOOK_SECRET_FILE": secretFile}
			stack, err := StackEnv(func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			stack.Kube, stack.Tekton = sw.kc, sw.tc

			const pushes = 3
			res, err := Run(t.Context(), stack, Config{Sample: tt.sample, Root: root, Pushes: pushes, Timeout: time.Minute, Logf: t.Logf})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Run error = %v, want one saying %q", err, tt.wantErr)
				}
				if _, err := os.Stat(filepath.Join(repos, res.Repo+".git")); err != nil {
					t.Errorf("the repository of a failed bench was not kept: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(res.Warm) != pushes-1 {
				t.Errorf("%d warm pushes, want %d", len(res.Warm), pushes-1)
			}
			for i, tl := range append([]Timeline{res.Cold}, res.Warm...) {
				if m := tl.Missing(); len(m) > 0 {
					t.Errorf("push %d lacks %v", i, m)
				}
				for p, d := range tl.At {
					// Kubernetes times are whole seconds: up to 1 s early.
					if d < -time.Second || d > time.Minute {
						t.Errorf("push %d: %s at %s", i, p, d)
					}
				}
			}
			wantBefores := []string{zeroSHA, sw.afters[0], sw.afters[1]}
			if diff := cmp.Diff(wantBefores, sw.befores); diff != "" {
				t.Errorf("the pushes' before SHAs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"", sw.afters[0], sw.afters[1]}, sw.parents); diff != "" {
				t.Errorf("the pushed commits' parents (-want +got):\n%s", diff)
			}
			if tt.sample == "go" {
				goMod := "module example.com/hello\n\ngo 1.26\n"
				if diff := cmp.Diff([]string{goMod, goMod, goMod}, sw.goMods); diff != "" {
					t.Errorf("the pushed go.mod (-want +got):\n%s", diff)
				}
			}
			if _, err := os.Stat(filepath.Join(repos, res.Repo+".git")); !os.IsNotExist(err) {
				t.Errorf("the repository was not removed after the bench: %v", err)
			}
		})
	}
}
