package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/api/client"
)

func TestParseEvents(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"two events", "event: a\ndata: {\"x\":1}\n\nevent: b\ndata: 2\n\n", []string{`a {"x":1}`, "b 2"}},
		{"multi-line data and default name", "data: one\ndata: two\n\n", []string{"message one\ntwo"}},
		{"comments and unknown fields", ": keep-alive\nid: 4\nretry: 10\nevent: a\ndata:x\n\n", []string{"a x"}},
		{"no data, no event", "event: a\n\n", nil},
		{"unterminated event is dropped", "event: a\ndata: 1", nil},
		{"CRLF-free blank lines only", "\n\n\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := client.ParseEvents(strings.NewReader(tt.in), func(e client.Event) error {
				got = append(got, e.Name+" "+string(e.Data))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
	stop := errors.New("enough")
	if err := client.ParseEvents(strings.NewReader("data: 1\n\ndata: 2\n\n"), func(client.Event) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error: %v", err)
	}
}

func FuzzParseEvents(f *testing.F) {
	f.Add("event: log\ndata: {\"text\":\"a\"}\n\n")
	f.Add("data: x\ndata: y\n\n: c\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		_ = client.ParseEvents(strings.NewReader(in), func(e client.Event) error {
			if e.Name == "" {
				t.Errorf("event without a name from %q", in)
			}
			return nil
		})
	})
}

// sse writes events as the web UI's run stream does (pkg/ui/stream.go).
func sse(events ...[2]string) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", e[0], e[1])
	}
	return b.String()
}

const (
	runningTimeline = `{"state":"running","tasks":[{"name":"clone","state":"succeeded","steps":[{"name":"clone","state":"succeeded","exitCode":0}]},` +
		`{"name":"build","state":"running","steps":[{"name":"build","state":"running","exitCode":0}]}]}`
	doneTimeline = `{"state":"failed","tasks":[{"name":"clone","state":"succeeded","steps":[{"name":"clone","state":"succeeded","exitCode":0}]},` +
		`{"name":"build","state":"failed","steps":[{"name":"build","state":"failed","exitCode":2}]}]}`
)

func TestLogs(t *testing.T) {
	// The build step's log arrives before the clone's, as it may: the
	// server sends each step from its own goroutine.
	running := sse(
		[2]string{"timeline", runningTimeline},
		[2]string{"log", `{"task":"build","step":"build","text":"compiling\n","reset":true}`},
		[2]string{"log", `{"task":"clone","step":"clone","text":"cloned abc\n","reset":true}`},
		[2]string{"log", `{"task":"build","step":"build","text":"error: x\n"}`},
		[2]string{"timeline", doneTimeline},
		[2]string{"end", `{"state":"failed"}`},
	)
	tests := []struct {
		name      string
		stream    string
		follow    bool
		want      []string
		wantState string
	}{
		{"running, not followed: finished steps only", running, false, []string{"clone/clone cloned abc\n"}, "running"},
		{"running, followed to the end", running, true,
			[]string{"build/build compiling\n", "clone/clone cloned abc\n", "build/build error: x\n"}, "failed"},
		{"finished", sse([2]string{"timeline", doneTimeline},
			[2]string{"log", `{"task":"clone","step":"clone","text":"cloned abc\n","reset":true}`},
			[2]string{"log", `{"task":"build","step":"build","text":"error: x\n","reset":true,"truncated":true}`},
			[2]string{"end", `{"state":"failed"}`}), false,
			[]string{"clone/clone cloned abc\n", "build/build error: x\n"}, "failed"},
		{"queued, not followed: nothing yet", sse([2]string{"timeline", `{"state":"queued","tasks":[]}`}), false, nil, "queued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path, auth string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path, auth = r.URL.Path, r.Header.Get("Authorization")
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = w.Write([]byte(tt.stream))
			}))
			defer srv.Close()
			c, err := client.New(srv.URL, client.WithToken("tok"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			state, err := c.Logs(context.Background(), "builds/web-1", tt.follow, func(ch client.LogChunk) error {
				got = append(got, ch.Task+"/"+ch.Step+" "+ch.Text)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
			if state != tt.wantState || path != "/runs/builds/web-1/stream" || auth != "Bearer tok" {
				t.Errorf("state %q, path %q, auth %q", state, path, auth)
			}
		})
	}
}

func TestLogsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "garbled") {
			_, _ = w.Write([]byte(sse([2]string{"timeline", `{"state":`})))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"no run b/x"}`))
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)
	nop := func(client.LogChunk) error { return nil }
	if _, err := c.Logs(context.Background(), "b/x", true, nop); client.StatusCode(err) != 404 || !strings.Contains(err.Error(), "no run b/x") {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := c.Logs(context.Background(), "b/garbled", true, nop); err == nil || !strings.Contains(err.Error(), "decoding the timeline") {
		t.Errorf("garbled stream: %v", err)
	}
}
