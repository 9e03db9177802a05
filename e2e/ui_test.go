//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/e2e/framework"
)

// liveLines is how many numbered lines the live test's unit-test step
// prints, two seconds apart, before it runs the tests: long enough that a
// page opened when the run starts sees them arrive.
const liveLines = 20

// liveConfig makes the unit-test step print slipway-live-01 … -20.
var liveConfig = fmt.Sprintf(`build:
  testCommand: for i in %s; do echo "slipway-live-$i"; sleep 2; done; go test ./...
`, liveSeq())

func liveSeq() string {
	var b strings.Builder
	for i := 1; i <= liveLines; i++ {
		fmt.Fprintf(&b, " %02d", i)
	}
	return strings.TrimSpace(b.String())
}

// The run page of a real run, opened in Chromium while the run starts:
// the unit-test step's log lines arrive in the open page (no reload) while
// the step runs, the timeline shows the step running and then every task
// succeeded. The finished page reads the same with JavaScript disabled and
// fits a phone's width. Screenshots are test artifacts.
func TestRunPageLiveInBrowser(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, sha := newRepo(t, s, "ui-live", map[string]string{".slipway.yaml": liveConfig})

	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha)))
	run := waitForRunOf(ctx, t, sha)
	runURL := s.URL + "/runs/" + buildsNamespace + "/" + run

	p := newPage(ctx, t, pageOptions{}).signIn(s)
	p.open(runURL)
	// A reload would drop this mark: the lines must come into this document.
	eval[bool](p, `window.__slipwayE2E = true`)

	logExpr := `(document.getElementById("log-unit-test-test") || {}).textContent || ""`
	first := waitFor[string](p, "the first log line of unit-test/test", `(() => { const s = `+logExpr+`; return s.includes("slipway-live-01") ? s : ""; })()`)
	if strings.Contains(first, fmt.Sprintf("slipway-live-%02d", liveLines)) {
		t.Errorf("the first line arrived with the last one: the log was not streamed while the step ran\n%s", first)
	}
	if pr, err := framework.Get(t).Tekton.TektonV1().PipelineRuns(buildsNamespace).Get(ctx, run, metav1.GetOptions{}); err != nil {
		t.Errorf("reading PipelineRun %s: %v", run, err)
	} else if done, _ := framework.PipelineRunDone(pr); done {
		t.Errorf("PipelineRun %s had finished when its first log line reached the page; want lines live", run)
	}
	waitFor[bool](p, "unit-test shown running", `(document.querySelector('li.task[data-task="unit-test"]') || {dataset: {}}).dataset.state === "running"`)
	checkFollow(p, "log-unit-test-test")
	waitFor[bool](p, "the last log line", `(`+logExpr+`).includes(`+jsString(fmt.Sprintf("slipway-live-%02d", liveLines))+`)`)
	if !eval[bool](p, `window.__slipwayE2E === true`) {
		t.Errorf("the page reloaded; want the log lines streamed into the open page")
	}
	tasks := []string{"clone", "generate-dockerfile", "unit-test", "build-push"}
	tasksJS, _ := json.Marshal(tasks)
	waitFor[bool](p, "the run and every task succeeded", `document.getElementById("run-state").dataset.state === "succeeded" && `+
		string(tasksJS)+`.every(t => (document.querySelector('li.task[data-task="' + t + '"]') || {dataset: {}}).dataset.state === "succeeded")`)
	if !eval[bool](p, `!!document.querySelector('li.task[data-task="unit-test"] li.step[data-step="test"]')`) {
		t.Errorf("no step test under the task unit-test on the page")
	}
	// Fails at once if the PipelineRun disagrees with the page.
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
	p.screenshot("run-page")

	// Without JavaScript: the server-rendered page has the timeline and the
	// stored logs, and the runs list links the run.
	nojs := newPage(ctx, t, pageOptions{noJS: true}).signIn(s)
	nojs.open(runURL)
	for _, task := range tasks {
		if got := eval[string](nojs, `(document.querySelector('li.task[data-task="`+task+`"]') || {dataset: {}}).dataset.state || ""`); got != "succeeded" {
			t.Errorf("without JavaScript, task %s shows state %q, want succeeded", task, got)
		}
	}
	// The finished run's facts: the image digest the run reported, the
	// rendered Dockerfile and the provenance naming the commit.
	if got, want := eval[string](nojs, `(document.getElementById("digest") || {}).textContent || ""`), result(pr, "IMAGE_DIGEST"); want == "" || got != want {
		t.Errorf("page digest %q, the run's IMAGE_DIGEST %q", got, want)
	}
	if got := eval[string](nojs, `(document.getElementById("dockerfile") || {}).textContent || ""`); !strings.Contains(got, "FROM ") {
		t.Errorf("page Dockerfile %q, want the rendered Dockerfile", got)
	}
	if got := eval[string](nojs, `(document.getElementById("provenance") || {}).textContent || ""`); !strings.Contains(got, sha) {
		t.Errorf("page provenance %q, want it to name commit %s", got, sha)
	}
	if got := eval[string](nojs, logExpr); !strings.Contains(got, "slipway-live-01") || !strings.Contains(got, fmt.Sprintf("slipway-live-%02d", liveLines)) {
		t.Errorf("without JavaScript, the unit-test log reads %q; want the stored lines", got)
	}
	nojs.screenshot("run-page-nojs")
	nojs.open(s.URL + "/runs")
	if !eval[bool](nojs, `[...document.querySelectorAll("a[href]")].some(a => a.getAttribute("href").endsWith(`+jsString("/runs/"+buildsNamespace+"/"+run)+`))`) {
		t.Errorf("the runs list has no link to %s\npage text:\n%s", run, nojs.text())
	}
	if !strings.Contains(nojs.text(), repo.Name) {
		t.Errorf("the runs list does not name %s", repo.Name)
	}

	// A phone: the page fits the width (long log lines scroll inside their
	// box, not the page).
	phone := newPage(ctx, t, pageOptions{phone: true}).signIn(s)
	phone.open(runURL)
	waitFor[bool](phone, "the log on the phone", `(`+logExpr+`).includes("slipway-live-01")`)
	if w := eval[[]int](phone, `[document.documentElement.scrollWidth, window.innerWidth]`); len(w) != 2 || w[0] > w[1] {
		t.Errorf("on a 390px phone the page is %v px wide (scrollWidth, innerWidth); want no sideways scrolling", w)
	}
	phone.viewportShot("run-page-phone")
	phone.screenshot("run-page-phone-full")

	// The PipelineRun and its pods go (as prune-keep deletes them): the
	// page is rebuilt from the store, stored logs included.
	deleteRunAndPods(ctx, t, run)
	gone := newPage(ctx, t, pageOptions{noJS: true}).signIn(s)
	gone.open(runURL)
	if got := eval[string](gone, logExpr); !strings.Contains(got, "slipway-live-01") || !strings.Contains(got, fmt.Sprintf("slipway-live-%02d", liveLines)) {
		t.Errorf("with the PipelineRun and its pods gone, the unit-test log reads %q; want the stored lines\npage text:\n%s", got, gone.text())
	}
	gone.screenshot("run-page-pods-gone")
}

// checkFollow checks the follow mode on the log pre with id logID while
// lines still arrive: ticked (the default) the log scrolls to its end as
// lines arrive; unticked it stays where the reader put it; ticked again it
// jumps to the end at once.
func checkFollow(p *page, logID string) {
	p.t.Helper()
	pre := `document.getElementById(` + jsString(logID) + `)`
	atEnd := `(` + pre + `.scrollTop + ` + pre + `.clientHeight >= ` + pre + `.scrollHeight - 2)`
	// A short box, so a few lines overflow it (set through the CSSOM,
	// which the page's CSP allows).
	eval[bool](p, `(`+pre+`.style.maxHeight = "3.5em", true)`)
	waitFor[bool](p, "the followed log to overflow and sit at its end",
		pre+`.scrollHeight > `+pre+`.clientHeight + 4 && `+atEnd)

	// Unticked: the reader scrolls to the top and stays there while lines arrive.
	n := eval[int](p, `(() => { const f = document.getElementById("follow"); if (f.checked) f.click(); `+
		pre+`.scrollTop = 0; return `+pre+`.textContent.length; })()`)
	if eval[bool](p, `document.getElementById("follow").checked`) {
		p.t.Fatalf("#follow is still ticked after a click")
	}
	waitFor[bool](p, "more log lines after unticking follow", pre+`.textContent.length > `+fmt.Sprint(n))
	if top := eval[float64](p, pre+`.scrollTop`); top != 0 {
		p.t.Errorf("with follow unticked, new lines scrolled the log to %v; want it left at the top", top)
	}

	// Ticked again: at the end at once, before any new line could do it.
	got := eval[[]bool](p, `(() => { const n = `+pre+`.textContent.length; document.getElementById("follow").click(); `+
		`return [document.getElementById("follow").checked, `+atEnd+`, n === `+pre+`.textContent.length]; })()`)
	if len(got) != 3 || !got[0] || !got[1] || !got[2] {
		p.t.Errorf("ticking follow again: [checked, at the end, no new line meanwhile] = %v; want all true", got)
	}
	p.screenshot("run-page-follow")
}

// deleteRunAndPods deletes the PipelineRun and waits until it and its pods
// are gone.
func deleteRunAndPods(ctx context.Context, t *testing.T, run string) {
	t.Helper()
	c := framework.Get(t)
	bg := metav1.DeletePropagationBackground
	if err := c.Tekton.TektonV1().PipelineRuns(buildsNamespace).Delete(ctx, run, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatalf("deleting PipelineRun %s: %v", run, err)
	}
	sel := metav1.ListOptions{LabelSelector: "tekton.dev/pipelineRun=" + run}
	for {
		_, err := c.Tekton.TektonV1().PipelineRuns(buildsNamespace).Get(ctx, run, metav1.GetOptions{})
		pods, perr := c.Kube.CoreV1().Pods(buildsNamespace).List(ctx, sel)
		if apierrors.IsNotFound(err) && perr == nil && len(pods.Items) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			n := -1
			if pods != nil {
				n = len(pods.Items)
			}
			t.Fatalf("PipelineRun %s (get: %v) and its pods (%d left, list: %v) not gone: %v", run, err, n, perr, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// "Why didn't my push build?": a push with [skip ci] is recorded as
// ignored, and the events page says why, with or without JavaScript.
func TestEventsPageShowsIgnoredReason(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, _ := newRepo(t, s, "ui-skip", nil)
	sha := repo.commit(t, "main", "Docs only [skip ci]", map[string]string{"NOTES.md": "notes\n"})
	body := withMessage(t, s.githubPush(repo, "main", zeroSHA, sha), "Docs only [skip ci]")
	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), body))
	const reason = "commit message contains [skip ci]"
	evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool {
		return len(evs) > 0 && evs[0].SHA == sha && evs[0].State == "ignored"
	})
	if evs[0].Reason != reason {
		t.Errorf("event reason %q, want %q", evs[0].Reason, reason)
	}

	for _, o := range []pageOptions{{}, {noJS: true}} {
		p := newPage(ctx, t, o).signIn(s)
		p.open(s.URL + "/events")
		// The reason must be on the event's own row, not just somewhere.
		row := `[...document.querySelectorAll("tr, li, article")].some(e => e.textContent.includes(` + jsString(repo.Name) +
			`) && e.textContent.includes(` + jsString(reason) + `))`
		if !eval[bool](p, row) {
			t.Errorf("events page (JavaScript disabled: %v) has no row of %s saying %q\npage text:\n%s", o.noJS, repo.Name, reason, p.text())
		}
		if o.noJS {
			p.screenshot("events-nojs")
		} else {
			p.screenshot("events")
		}
	}
}

// withMessage sets the head commit's message of a GitHub push body.
func withMessage(t *testing.T, body []byte, msg string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["head_commit"].(map[string]any)["message"] = msg
	for _, c := range m["commits"].([]any) {
		c.(map[string]any)["message"] = msg
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
