package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

type sseEvent struct{ name, data string }

// parseSSE splits a text/event-stream body into events, failing on
// anything but "event:" and one "data:" line per event.
func parseSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for _, block := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		if block == "" {
			continue
		}
		lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("malformed event %q", block)
		}
		out = append(out, sseEvent{strings.TrimPrefix(lines[0], "event: "), strings.TrimPrefix(lines[1], "data: ")})
	}
	return out
}

func TestStreamFinishedRun(t *testing.T) {
	e := newEnv(t, objects(true))
	e.recordRun(run.Failed)
	if err := e.logs.SaveStepLog(context.Background(), &store.StepLog{RunID: ns + "/" + runName, Task: "clone", Step: "clone", Log: "saved\n"}); err != nil {
		t.Fatal(err)
	}
	e.setPodLog("step-render", "from the pod\n")
	code, body, hdr := e.get("/runs/" + ns + "/" + runName + "/stream")
	if code != http.StatusOK || hdr.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %q", code, hdr.Get("Content-Type"))
	}
	evs := parseSSE(t, body)
	if len(evs) < 2 || evs[0].name != "timeline" || evs[len(evs)-1].name != "end" {
		t.Fatalf("events %v: want timeline first and end last", evs)
	}
	var tl Timeline
	if err := json.Unmarshal([]byte(evs[0].data), &tl); err != nil {
		t.Fatal(err)
	}
	if tl.State != Failed || len(tl.Tasks) != 3 || tl.Tasks[1].Steps[0].State != Failed {
		t.Errorf("timeline %+v", tl)
	}
	logs := map[string]LogChunk{}
	for _, ev := range evs[1 : len(evs)-1] {
		var c LogChunk
		if ev.name != "log" || json.Unmarshal([]byte(ev.data), &c) != nil {
			t.Fatalf("unexpected event %v", ev)
		}
		logs[c.Task+"/"+c.Step] = c
	}
	want := map[string]LogChunk{
		"clone/clone":                {Task: "clone", Step: "clone", Text: "saved\n", Reset: true},
		"generate-dockerfile/render": {Task: "generate-dockerfile", Step: "render", Text: "from the pod\n", Reset: true},
	}
	if diff := cmp.Diff(want, logs); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
	if evs[len(evs)-1].data != `{"state":"failed"}` {
		t.Errorf("end = %s", evs[len(evs)-1].data)
	}
}

// TestStreamLiveRun follows a running step, then sees the run finish.
func TestStreamLiveRun(t *testing.T) {
	e := newEnv(t, objects(false))
	e.recordRun(run.Running)
	e.setPodLog("step-clone", "cloned\n")
	e.setPodLog("step-render", "line 1\nline 2\n")
	resp, err := http.Get(e.srv.URL + "/runs/" + ns + "/" + runName + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	next := func() sseEvent {
		t.Helper()
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended: %v (read %q)", err, lines)
			}
			if l == "\n" {
				break
			}
			lines = append(lines, strings.TrimSuffix(l, "\n"))
		}
		return parseSSE(t, strings.Join(lines, "\n")+"\n\n")[0]
	}
	first := next()
	if first.name != "timeline" || !strings.Contains(first.data, `"state":"running"`) {
		t.Fatalf("first event %v", first)
	}
	got := ""
	for !strings.Contains(got, "line 2") {
		ev := next()
		if ev.name == "log" && strings.Contains(ev.data, `"step":"render"`) {
			var c LogChunk
			_ = json.Unmarshal([]byte(ev.data), &c)
			got += c.Text
		}
	}
	if got != "line 1\nline 2\n" {
		t.Errorf("followed log %q", got)
	}
	// The run finishes: the stream sends the new timeline and ends.
	ctx := context.Background()
	for _, tr := range taskRuns(true) {
		if _, err := e.tekton.TektonV1().TaskRuns(ns).UpdateStatus(ctx, tr, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.tekton.TektonV1().PipelineRuns(ns).UpdateStatus(ctx, pipelineRun(true), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		ev := next()
		if ev.name == "end" {
			break
		}
	}
}

// TestStreamEndsAtShutdown: an open page must not hold a shutdown up.
func TestStreamEndsAtShutdown(t *testing.T) {
	stop, shutdown := context.WithCancel(context.Background())
	e := newEnv(t, objects(false), WithShutdown(stop), WithPollInterval(time.Hour))
	e.recordRun(run.Running)
	resp, err := http.Get(e.srv.URL + "/runs/" + ns + "/" + runName + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if l, err := r.ReadString('\n'); err != nil || l != "event: timeline\n" {
		t.Fatalf("first line %q, %v", l, err)
	}
	shutdown()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("stream after shutdown: %v", err)
	}
}
