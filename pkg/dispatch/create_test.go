package dispatch

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

// createRun against an HTTP API server: one POST of the PipelineRun to its
// namespace's collection; a 409 is still AlreadyExists to the caller.
func TestCreateRunPostsThePipelineRun(t *testing.T) {
	var mu sync.Mutex
	var got []string
	exists := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var pr pipelinev1.PipelineRun
		if err := json.Unmarshal(body, &pr); err != nil {
			t.Errorf("body is not a PipelineRun: %v", err)
		}
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+pr.Name+" "+pr.Spec.PipelineRef.Name)
		dup := exists
		exists = true
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if dup {
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(metav1.Status{
				TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Reason: metav1.StatusReasonAlreadyExists, Code: http.StatusConflict,
				Message: `pipelineruns.tekton.dev "hello-1" already exists`,
			})
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	tc, err := versioned.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-1", Namespace: "ci"},
		Spec:       pipelinev1.PipelineRunSpec{PipelineRef: &pipelinev1.PipelineRef{Name: "slipway-ci"}},
	}
	rc, err := restClient(tc)
	if err != nil {
		t.Fatal(err)
	}
	if rc != tc.TektonV1().RESTClient() {
		t.Fatal("a real clientset's own REST client is not the one used")
	}
	if err := createRun(context.Background(), rc, pr); err != nil {
		t.Fatalf("first create: %v", err)
	}
	if err := createRun(context.Background(), rc, pr); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create = %v, want AlreadyExists", err)
	}
	want := []string{
		"POST /apis/tekton.dev/v1/namespaces/ci/pipelineruns hello-1 slipway-ci",
		"POST /apis/tekton.dev/v1/namespaces/ci/pipelineruns hello-1 slipway-ci",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}

// Over a fake clientset, createRun's POST lands in the clientset (and its
// reactors), and its errors come back as the API server's would.
func TestCreateRunOverAFakeClientset(t *testing.T) {
	cs := fake.NewSimpleClientset()
	rc, err := restClient(cs)
	if err != nil {
		t.Fatal(err)
	}
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-1", Namespace: "ci", Labels: map[string]string{"a": "b"}},
		Spec:       pipelinev1.PipelineRunSpec{PipelineRef: &pipelinev1.PipelineRef{Name: "slipway-ci"}},
	}
	if err := createRun(context.Background(), rc, pr); err != nil {
		t.Fatalf("first create: %v", err)
	}
	got, err := cs.TektonV1().PipelineRuns("ci").Get(context.Background(), "hello-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(pr.Spec, got.Spec); d != "" || got.Labels["a"] != "b" {
		t.Errorf("stored PipelineRun differs (-want +got):\n%s labels %v", d, got.Labels)
	}
	if err := createRun(context.Background(), rc, pr); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create = %v, want AlreadyExists", err)
	}
	cs.PrependReactor("create", "pipelineruns", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewTooManyRequests("slow down", 7)
	})
	err = createRun(context.Background(), rc, pr)
	if s, ok := apierrors.SuggestsClientDelay(err); !apierrors.IsTooManyRequests(err) || !ok || s != 7 {
		t.Errorf("throttled create = %v (delay %d, %v), want TooManyRequests asking for 7 s", err, s, ok)
	}
}
