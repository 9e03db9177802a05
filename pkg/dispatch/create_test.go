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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
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
	if err := createRun(context.Background(), tc, pr); err != nil {
		t.Fatalf("first create: %v", err)
	}
	if err := createRun(context.Background(), tc, pr); !apierrors.IsAlreadyExists(err) {
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
