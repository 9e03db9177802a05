package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/steplog"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

const listLimit = 100

func funcs(u *UI) template.FuncMap {
	return template.FuncMap{
		"short": event.ShortSHA,
		"time": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"iso": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"duration":   func(start, end time.Time) string { return duration(start, end, u.clock.Now()) },
		"stateLabel": stateLabel,
		"stateIcon":  stateIcon,
		"refName":    refName,
	}
}

// duration is end-start, or now-start while running, for humans.
func duration(start, end, now time.Time) string {
	if start.IsZero() {
		return ""
	}
	if end.IsZero() {
		end = now
	}
	d := end.Sub(start).Round(time.Second)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// stateLabel is the word shown next to the colour, so state never depends
// on colour alone.
func stateLabel(s State) string {
	switch s {
	case Queued:
		return "Queued"
	case Running:
		return "Running"
	case Succeeded:
		return "Succeeded"
	case Failed:
		return "Failed"
	case Cancelled:
		return "Cancelled"
	case Skipped:
		return "Skipped"
	}
	return string(s)
}

func stateIcon(s State) string {
	switch s {
	case Running:
		return "▶"
	case Succeeded:
		return "✓"
	case Failed:
		return "✗"
	case Cancelled:
		return "■"
	case Skipped:
		return "–"
	}
	return "…"
}

// refName shows a ref without its refs/heads/ or refs/tags/ prefix.
func refName(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		if after, ok := strings.CutPrefix(ref, p); ok {
			return after
		}
	}
	return ref
}

// RunRow is one line of the runs list.
type RunRow struct {
	run.Run
	Namespace, Name string
	PageState       State
	CommitURL       string
	MRURL           string
	Author          string
}

type runsData struct {
	Rows                     []RunRow
	Repo, Branch, MR, StateQ string
	States                   []State
	Err                      string
}

// runFilterStates are the states the runs list filters by, named as the
// badges name them.
var runFilterStates = []State{Queued, Running, Succeeded, Failed, Cancelled}

// storeRunState is the stored state of a filter's state. The stored names
// (pending, success, failure, canceled) are accepted too, so older links
// keep working.
func storeRunState(q string) (run.State, State, bool) {
	for _, s := range []run.State{run.Pending, run.Running, run.Succeeded, run.Failed, run.Canceled} {
		if q == string(runState(s)) || q == string(s) {
			return s, runState(s), true
		}
	}
	return "", "", false
}

func (u *UI) runsPage(c echo.Context) error {
	ctx := c.Request().Context()
	d := runsData{Repo: strings.TrimSpace(c.QueryParam("repo")), Branch: strings.TrimSpace(c.QueryParam("branch")),
		MR: strings.TrimSpace(c.QueryParam("mr")), StateQ: c.QueryParam("state"), States: runFilterStates}
	f := store.RunFilter{Limit: listLimit, Repo: d.Repo}
	if d.Branch != "" {
		f.Ref = d.Branch
		if !strings.HasPrefix(d.Branch, "refs/") {
			f.Ref = "refs/heads/" + d.Branch
		}
	}
	if d.MR != "" {
		n, err := strconv.Atoi(strings.TrimLeft(d.MR, "!#"))
		if err != nil || n < 1 {
			d.Err = "The merge request must be a number."
			return u.render(c, http.StatusBadRequest, "runs", "Runs", "runs", d)
		}
		f.MRNumber = n
	}
	if d.StateQ != "" {
		st, page, ok := storeRunState(d.StateQ)
		if !ok {
			d.Err = "Unknown state " + strconv.Quote(d.StateQ) + "."
			return u.render(c, http.StatusBadRequest, "runs", "Runs", "runs", d)
		}
		f.State, d.StateQ = st, string(page)
	}
	runs, err := u.st.ListRuns(ctx, f)
	if err != nil {
		d.Err = "Cannot list runs: " + err.Error()
		return u.render(c, http.StatusServiceUnavailable, "runs", "Runs", "runs", d)
	}
	authors := u.authors(ctx, runs)
	for _, r := range runs {
		ns, name, _ := strings.Cut(r.ID, "/")
		d.Rows = append(d.Rows, RunRow{Run: r, Namespace: ns, Name: name, PageState: runState(r.State),
			CommitURL: u.commitURL(r.Provider, r.Repo, r.SHA), MRURL: u.mrURL(r.Provider, r.Repo, r.MRNumber),
			Author: authors[r.EventID]})
	}
	return u.render(c, http.StatusOK, "runs", "Runs", "runs", d)
}

// authors finds who pushed each run's event.
func (u *UI) authors(ctx context.Context, runs []run.Run) map[int64]string {
	out := map[int64]string{}
	for _, r := range runs {
		if _, seen := out[r.EventID]; seen || r.EventID == 0 {
			continue
		}
		if ev, err := u.st.GetEvent(ctx, r.EventID); err == nil {
			out[r.EventID] = ev.Author
		}
	}
	return out
}

type eventsData struct {
	Events       []event.Event
	Repo, StateQ string
	States       []string
	Err          string
}

func (u *UI) eventsPage(c echo.Context) error {
	d := eventsData{Repo: strings.TrimSpace(c.QueryParam("repo")), StateQ: c.QueryParam("state"),
		States: stateNames()}
	f := store.EventFilter{Limit: listLimit, Repo: d.Repo}
	switch event.State(d.StateQ) {
	case "":
	case event.Queued, event.Dispatched, event.Waiting, event.Ignored, event.Failed:
		f.State = event.State(d.StateQ)
	default:
		d.Err = "Unknown state " + strconv.Quote(d.StateQ) + "."
		return u.render(c, http.StatusBadRequest, "events", "Events", "events", d)
	}
	evs, err := u.st.ListEvents(c.Request().Context(), f)
	if err != nil {
		d.Err = "Cannot list events: " + err.Error()
		return u.render(c, http.StatusServiceUnavailable, "events", "Events", "events", d)
	}
	d.Events = evs
	return u.render(c, http.StatusOK, "events", "Events", "events", d)
}

type notificationsData struct {
	Rows   []NotificationRow
	StateQ string
	States []store.NotificationState
	Err    string
}

// NotificationRow is one line of the notifications list.
type NotificationRow struct {
	store.Notification
	Namespace, Name string
}

// notificationsPage lists recorded notifications, newest first; with
// ?state=failed, the ones that never arrived.
func (u *UI) notificationsPage(c echo.Context) error {
	d := notificationsData{StateQ: c.QueryParam("state"),
		States: []store.NotificationState{store.NotificationPending, store.NotificationSent, store.NotificationFailed}}
	f := store.NotificationFilter{Limit: listLimit}
	switch st := store.NotificationState(d.StateQ); {
	case st == "":
	case slices.Contains(d.States, st):
		f.State = st
	default:
		d.Err = "Unknown state " + strconv.Quote(d.StateQ) + "."
		return u.render(c, http.StatusBadRequest, "notifications", "Notifications", "notifications", d)
	}
	notes, err := u.notes.ListNotifications(c.Request().Context(), f)
	if err != nil {
		d.Err = "Cannot list notifications: " + err.Error()
		return u.render(c, http.StatusServiceUnavailable, "notifications", "Notifications", "notifications", d)
	}
	for _, n := range notes {
		ns, name, _ := strings.Cut(n.RunID, "/")
		d.Rows = append(d.Rows, NotificationRow{Notification: n, Namespace: ns, Name: name})
	}
	return u.render(c, http.StatusOK, "notifications", "Notifications", "notifications", d)
}

// StepView is one step on the run page, with its log.
type StepView struct {
	Step
	Log       string
	Truncated bool
	// LogNote says why there is no log to show.
	LogNote string
}

// TaskView is one task on the run page.
type TaskView struct {
	Task
	Steps []StepView
}

type runData struct {
	Run        *run.Run
	Namespace  string
	Name       string
	Timeline   Timeline
	Tasks      []TaskView
	Live       bool
	CommitURL  string
	MRURL      string
	Author     string
	Dockerfile string
	DockerPath string
	Image      string
	Digest     string
	Provenance *Provenance
	// Policy is the digest's dependency policy outcome, when stored;
	// PolicyErr says why it could not be read.
	Policy    *run.PolicyCheck
	PolicyErr string
	CanRerun  bool
	CanCancel bool
	Request   string
	Notice    string
	Err       string
	// Notifications are the run's, when the UI shows them (NotesOn).
	NotesOn       bool
	Notifications []store.Notification
	NotesErr      string
	// Tests is the run's test report, when the UI shows them.
	Tests *TestsView
}

// snapshot is what the cluster and the store say about one run.
type snapshot struct {
	run  *run.Run
	pr   *pipelinev1.PipelineRun
	trs  []pipelinev1.TaskRun
	logs []store.StepLog
	tl   Timeline
}

// errNoRun means neither the store nor the cluster knows the run.
var errNoRun = errors.New("no such run")

// load reads the run from the store and, in Slipway's namespace, its
// PipelineRun and TaskRuns. A run the cluster no longer has is rebuilt
// from the stored step logs.
func (u *UI) load(ctx context.Context, ns, name string) (*snapshot, error) {
	id := ns + "/" + name
	s := &snapshot{}
	r, err := u.st.GetRun(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("reading run %s: %w", id, err)
	default:
		s.run = r
	}
	if ns == u.namespace {
		pr, err := u.pipelineRun(ctx, ns, name)
		switch {
		case err != nil && s.run == nil:
			return nil, fmt.Errorf("reading PipelineRun %s: %w", id, err)
		case err == nil && pr != nil && pr.Labels[tekton.LabelManaged] == "true":
			s.pr = pr
		}
	}
	if s.run == nil && s.pr == nil {
		return nil, errNoRun
	}
	if s.pr != nil {
		trs, err := u.taskRuns(ctx, ns, name)
		if err != nil {
			return nil, fmt.Errorf("listing TaskRuns of %s: %w", id, err)
		}
		s.trs = trs
		sort.Slice(s.trs, func(i, j int) bool { return s.trs[i].Name < s.trs[j].Name })
	}
	logs, err := u.logs.ListStepLogs(ctx, id)
	if err != nil {
		return nil, err
	}
	s.logs = logs
	if s.pr != nil {
		s.tl = buildTimeline(s.pr, s.trs)
	} else {
		s.tl = storedTimeline(s.run, logs)
	}
	return s, nil
}

// pipelineRun reads ns/name from the run cache when it can answer, else
// from the API; nil and no error when there is none.
func (u *UI) pipelineRun(ctx context.Context, ns, name string) (*pipelinev1.PipelineRun, error) {
	if u.prCache != nil {
		if pr, ok := u.prCache.CachedPipelineRun(ns, name); ok {
			return pr, nil
		}
	}
	pr, err := u.tekton.TektonV1().PipelineRuns(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return pr, err
}

// taskRuns reads the TaskRuns of PipelineRun ns/name from the run cache
// when it can answer, else from the API.
func (u *UI) taskRuns(ctx context.Context, ns, name string) ([]pipelinev1.TaskRun, error) {
	if u.trCache != nil {
		if trs, ok := u.trCache.CachedTaskRuns(ns, name); ok {
			return trs, nil
		}
	}
	list, err := u.tekton.TektonV1().TaskRuns(ns).List(ctx, metav1.ListOptions{LabelSelector: "tekton.dev/pipelineRun=" + name})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// stored returns the saved log of a step, if any.
func (s *snapshot) stored(task, step string) *store.StepLog {
	for i := range s.logs {
		if s.logs[i].Task == task && s.logs[i].Step == step {
			return &s.logs[i]
		}
	}
	return nil
}

// stepLog is a step's log: saved, or read from its pod now.
func (u *UI) stepLog(ctx context.Context, s *snapshot, t Task, st Step) (text string, truncated bool, note string) {
	stored := s.stored(t.Name, st.Name)
	if stored == nil && st.State == Queued {
		return "", false, ""
	}
	l, err := steplog.Lookup(ctx, u.kube, stored, u.namespace, t.Pod, st.Container, u.logCap)
	if errors.Is(err, steplog.ErrGone) {
		return "", false, "The log was not saved and the pod is gone."
	}
	if err != nil {
		return "", false, "The log cannot be read right now: " + err.Error()
	}
	return l.Text, l.Truncated, ""
}

func (u *UI) runPage(c echo.Context) error {
	ctx := c.Request().Context()
	ns, name := c.Param("namespace"), c.Param("name")
	s, err := u.load(ctx, ns, name)
	if errors.Is(err, errNoRun) {
		return u.errorPage(c, http.StatusNotFound, "There is no run "+ns+"/"+name+".")
	}
	if err != nil {
		return u.errorPage(c, http.StatusServiceUnavailable, err.Error())
	}
	d := runData{Run: s.run, Namespace: ns, Name: name, Timeline: s.tl, Live: !s.tl.State.Done(),
		Notice: noticeText(c.QueryParam("notice"))}
	if d.Run == nil {
		d.Run = runFromPipelineRun(s.pr)
	}
	d.CommitURL = u.commitURL(d.Run.Provider, d.Run.Repo, d.Run.SHA)
	d.MRURL = u.mrURL(d.Run.Provider, d.Run.Repo, d.Run.MRNumber)
	d.Author = u.authors(ctx, []run.Run{*d.Run})[d.Run.EventID]
	for _, t := range s.tl.Tasks {
		tv := TaskView{Task: t}
		for _, st := range t.Steps {
			text, trunc, note := u.stepLog(ctx, s, t, st)
			tv.Steps = append(tv.Steps, StepView{Step: st, Log: text, Truncated: trunc, LogNote: note})
			if t.Name == "generate-dockerfile" {
				if p, df, ok := dockerfileFrom(text); ok {
					d.DockerPath, d.Dockerfile = p, df
				}
			}
		}
		d.Tasks = append(d.Tasks, tv)
	}
	d.Image, d.Digest = d.Run.ImageURL, d.Run.ImageDigest
	if s.pr != nil && d.Digest == "" {
		for _, r := range s.pr.Status.Results {
			switch r.Name {
			case "IMAGE_URL":
				d.Image = r.Value.StringVal
			case "IMAGE_DIGEST":
				d.Digest = r.Value.StringVal
			}
		}
	}
	if d.Image != "" && d.Digest != "" {
		p := u.prov.get(ctx, d.Image, d.Digest)
		d.Provenance = &p
	}
	if u.policy != nil && d.Digest != "" {
		c, err := u.policy.PolicyCheck(ctx, d.Digest)
		switch {
		case err == nil:
			d.Policy = c
		case !errors.Is(err, store.ErrNotFound):
			d.PolicyErr = "Cannot read the dependency policy outcome: " + err.Error()
		}
	}
	if u.notes != nil {
		d.NotesOn = true
		notes, err := u.notes.ListNotifications(ctx, store.NotificationFilter{RunID: d.Run.ID, Limit: listLimit})
		if err != nil {
			d.NotesErr = "Cannot list the notifications: " + err.Error()
		}
		// Oldest first: the order they were sent in.
		slices.Reverse(notes)
		d.Notifications = notes
	}
	if u.tests != nil {
		// While the run goes on, no report yet says nothing.
		if d.Tests = u.testsView(ctx, d.Run, ns, name); d.Tests.None && !s.tl.State.Done() {
			d.Tests = nil
		}
	}
	if v, ok := u.viewer(c); ok && v.CanAct {
		d.CanCancel = s.pr != nil && !s.tl.State.Done()
		d.CanRerun = u.rec != nil && d.Run.EventID != 0
		d.Request = newRequestID()
	}
	return u.render(c, http.StatusOK, "run", d.Run.App+" "+event.ShortSHA(d.Run.SHA), "runs", d)
}

// runFromPipelineRun describes a run the store does not know (yet) from
// its PipelineRun's labels and annotations.
func runFromPipelineRun(pr *pipelinev1.PipelineRun) *run.Run {
	st, msg := tekton.RunState(pr)
	r := &run.Run{ID: pr.Namespace + "/" + pr.Name, Provider: event.Provider(pr.Labels[tekton.LabelProvider]),
		Kind: event.Kind(pr.Labels[tekton.LabelKind]), Repo: pr.Annotations[tekton.AnnotationRepo], App: pr.Labels[tekton.LabelApp],
		Ref: pr.Annotations[tekton.AnnotationRef], SHA: pr.Labels[tekton.LabelSHA], State: st, Message: msg, CreatedAt: pr.CreationTimestamp.Time}
	r.MRNumber, _ = strconv.Atoi(pr.Labels[tekton.LabelMR])
	r.EventID, _ = strconv.ParseInt(pr.Labels[tekton.LabelEventID], 10, 64)
	return r
}

// noticeText maps the notice a redirect carries to a fixed message, so a
// link cannot put arbitrary text on the page.
func noticeText(code string) string {
	switch code {
	case "cancelled":
		return "Cancellation requested."
	case "finished":
		return "The run had already finished; nothing to cancel."
	case "rerun":
		return "Re-run queued."
	}
	return ""
}

// stateNames are the event states the events page filters by.
func stateNames() []string {
	out := make([]string, len(event.States))
	for i, s := range event.States {
		out[i] = string(s)
	}
	return out
}
