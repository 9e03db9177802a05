package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	tektonv1 "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/typed/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// createRun creates pr with one POST through rc. Dispatch needs only
// whether that worked, so the answer — the whole PipelineRun again — is
// not decoded: that decode was 8% of Slipway's CPU in the dispatch bench.
// An error answer (AlreadyExists, Forbidden…) is still decoded into the
// usual StatusError.
func createRun(ctx context.Context, rc rest.Interface, pr *pipelinev1.PipelineRun) error {
	return rc.Post().Namespace(pr.Namespace).Resource("pipelineruns").Body(pr).Do(ctx).Error()
}

// restClient returns the REST client createRun posts with: tc's own. A
// clientset with none (client-go's fakes have none) gets one whose
// transport answers the POST from tc's typed Create, so that every test
// of dispatch runs the same request and error decoding as production.
func restClient(tc versioned.Interface) (rest.Interface, error) {
	if rc, ok := tc.TektonV1().RESTClient().(*rest.RESTClient); ok && rc != nil {
		return rc, nil
	}
	// QPS -1: no client-side throttling in front of an in-process fake.
	c, err := tektonv1.NewForConfigAndClient(&rest.Config{Host: "http://clientset.invalid", QPS: -1}, &http.Client{Transport: typedCreate{tc}})
	if err != nil {
		return nil, fmt.Errorf("dispatch: REST client over the clientset: %w", err)
	}
	return c.RESTClient(), nil
}

// typedCreate serves PipelineRun POSTs as an API server would, from a
// clientset's typed Create: the created object (201) or the error's
// Status. An error that is not the API's is the transport's, as a broken
// connection would be.
type typedCreate struct{ tc versioned.Interface }

func (t typedCreate) RoundTrip(req *http.Request) (*http.Response, error) {
	// /apis/tekton.dev/v1/namespaces/NS/pipelineruns
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	if req.Method != http.MethodPost || len(parts) != 6 || parts[3] != "namespaces" || parts[5] != "pipelineruns" {
		return answer(req, http.StatusMethodNotAllowed, apierrors.NewMethodNotSupported(pipelinev1.Resource("pipelineruns"), req.Method).Status())
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	var pr pipelinev1.PipelineRun
	if err := json.Unmarshal(body, &pr); err != nil {
		return answer(req, http.StatusBadRequest, apierrors.NewBadRequest(err.Error()).Status())
	}
	out, err := t.tc.TektonV1().PipelineRuns(parts[4]).Create(req.Context(), &pr, metav1.CreateOptions{})
	var se apierrors.APIStatus
	switch {
	case errors.As(err, &se):
		return answer(req, int(se.Status().Code), se.Status())
	case err != nil:
		return nil, err
	}
	return answer(req, http.StatusCreated, out)
}

func answer(req *http.Request, code int, v any) (*http.Response, error) {
	if s, ok := v.(metav1.Status); ok {
		s.Kind, s.APIVersion = "Status", "v1"
		v = s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		StatusCode: code, Status: http.StatusText(code), Request: req,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(strings.NewReader(string(b))),
		ContentLength: int64(len(b)),
	}, nil
}
