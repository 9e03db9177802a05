//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/pkg/api/wire"
)

// waitForFailedTest waits until the run's parsed test report (saved by
// the log collector from the unit-test report step) lists test as failed
// through the API, then checks the run page lists it in its tests section,
// with its output.
func (s *slipwayStack) waitForFailedTest(ctx context.Context, t *testing.T, run, test, output string) {
	t.Helper()
	base := s.URL + "/runs/" + buildsNamespace + "/" + run
	get := func(ctx context.Context, u string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, nil, err
		}
		s.authorize(req)
		resp, err := s.client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	var last wire.TestReport
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		code, b, err := get(ctx, s.URL+"/api/v1/runs/"+buildsNamespace+"/"+run+"/tests")
		if err != nil || code != http.StatusOK || json.Unmarshal(b, &last) != nil {
			return false, nil
		}
		return last.Failed > 0, nil
	})
	if err != nil {
		t.Fatalf("run %s: no test report with a failure through the API (last %+v): %v", run, last, err)
	}
	if len(last.Cases) == 0 || last.Cases[0].Status != "failed" || !strings.HasSuffix(last.Cases[0].Name, test) ||
		!strings.Contains(last.Cases[0].Output, output) {
		t.Errorf("test report of %s: first case %+v, want %s failed with %q in its output", run, last.Cases, test, output)
	}
	code, page, err := get(ctx, base)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", base, code, err)
	}
	body := string(page)
	i := strings.Index(body, `id="tests-title"`)
	if i < 0 {
		t.Fatalf("run page of %s has no tests section", run)
	}
	section := body[i:]
	section = section[:strings.Index(section, "</section>")]
	for _, want := range []string{`<li class="test" data-status="failed">`, `<span class="name">` + test + `</span>`, output} {
		if !strings.Contains(section, want) {
			t.Errorf("run page's tests section lacks %q:\n%s", want, section)
		}
	}
	// And as a reader sees it, in Chromium: the failed test first, by
	// name, with its output.
	p := newPage(ctx, t, pageOptions{}).signIn(s)
	p.open(base)
	got := eval[[]string](p, `(() => { const li = document.querySelector('#tests li.test, li.test'); if (!li) return [];`+
		` return [li.dataset.status || "", ((li.querySelector('.name') || {}).textContent || "").trim(), li.textContent || ""]; })()`)
	if len(got) != 3 || got[0] != "failed" || got[1] != test || !strings.Contains(got[2], output) {
		t.Errorf("in Chromium, the run page's first test reads %q; want %s failed with %q in its output", got, test, output)
	}
	p.screenshot("run-page-failed-test")
}

// waitForPassedTests waits until the run's parsed test report lists
// tests, all passed, through the API.
func (s *slipwayStack) waitForPassedTests(ctx context.Context, t *testing.T, run string) {
	t.Helper()
	var last wire.TestReport
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/runs/"+buildsNamespace+"/"+run+"/tests", nil)
		if err != nil {
			return false, err
		}
		s.authorize(req)
		resp, err := s.client.Do(req)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&last) != nil {
			return false, nil
		}
		return last.Total > 0, nil
	})
	if err != nil {
		t.Fatalf("run %s: no parsed test report through the API (last %+v): %v", run, last, err)
	}
	if last.Failed != 0 || last.Passed == 0 {
		t.Errorf("test report of %s: %d passed, %d failed; want the sample's tests all passed", run, last.Passed, last.Failed)
	}
}
