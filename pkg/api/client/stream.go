package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The run stream is the web UI's Server-Sent Events feed of a run,
// GET /runs/{namespace}/{name}/stream: "timeline" events whenever the
// run's tasks change, "log" events with step log text as it is written,
// and one "end" event when the run is over. The types below are the
// fields of it this client reads.

// Timeline is the data of a "timeline" event.
type Timeline struct {
	State string     `json:"state"`
	Tasks []TaskView `json:"tasks"`
}

// TaskView is one task of a Timeline.
type TaskView struct {
	Name  string     `json:"name"`
	State string     `json:"state"`
	Steps []StepView `json:"steps"`
}

// StepView is one step of a task.
type StepView struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	ExitCode int    `json:"exitCode"`
}

// Done reports whether a step or task in state s will not change again.
func Done(s string) bool { return s != "queued" && s != "running" }

// LogChunk is the data of a "log" event: text to append to a step's log,
// or to replace it when Reset is set (every step's first chunk).
type LogChunk struct {
	Task      string `json:"task"`
	Step      string `json:"step"`
	Text      string `json:"text"`
	Reset     bool   `json:"reset,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Event is one Server-Sent Event: its name and its data.
type Event struct {
	Name string
	Data []byte
}

// maxEvent bounds one event's data: a log chunk is at most the server's
// log cap (1 MiB by default), JSON-escaped.
const maxEvent = 8 << 20

// Stream calls fn with each event of run id's stream until the stream
// ends, fn returns an error (returned, except ErrStop, which ends the
// stream quietly), or ctx is done.
func (c *Client) Stream(ctx context.Context, id string, fn func(Event) error) error {
	p, err := runPath(id)
	if err != nil {
		return err
	}
	req, err := c.request(ctx, http.MethodGet, p+"/stream", nil, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("following run %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return answerError(resp.StatusCode, data)
	}
	err = ParseEvents(resp.Body, fn)
	if errors.Is(err, ErrStop) {
		return nil
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// ErrStop, returned by a Stream callback, ends the stream without error.
var ErrStop = errors.New("stop")

// ParseEvents reads Server-Sent Events from r and calls fn with each:
// "event:" names it (default "message"), "data:" lines are joined with
// newlines, a blank line dispatches it; comments and other fields are
// ignored. It returns fn's error, or nil at the end of r.
func ParseEvents(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxEvent)
	var name string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data != nil {
				if name == "" {
					name = "message"
				}
				if err := fn(Event{Name: name, Data: []byte(strings.Join(data, "\n"))}); err != nil {
					return err
				}
			}
			name, data = "", nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			data = append(data, value)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the event stream: %w", err)
	}
	return nil
}

// Logs sends run id's step logs to fn, chunk by chunk. With follow it
// returns when the run ends; without, once the log of every step that
// had finished when it was called has been sent (running steps are left
// out: follow them). It also returns the run's last known state.
func (c *Client) Logs(ctx context.Context, id string, follow bool, fn func(LogChunk) error) (state string, err error) {
	// want holds the finished steps whose log is still to come, once the
	// first timeline is known (nil before).
	var want map[string]bool
	err = c.Stream(ctx, id, func(ev Event) error {
		switch ev.Name {
		case "timeline":
			var tl Timeline
			if err := json.Unmarshal(ev.Data, &tl); err != nil {
				return fmt.Errorf("decoding the timeline: %w", err)
			}
			state = tl.State
			if want == nil && !follow {
				want = map[string]bool{}
				for _, t := range tl.Tasks {
					for _, s := range t.Steps {
						if Done(s.State) {
							want[t.Name+"/"+s.Name] = true
						}
					}
				}
				if len(want) == 0 && !Done(tl.State) {
					return ErrStop
				}
			}
		case "log":
			var ch LogChunk
			if err := json.Unmarshal(ev.Data, &ch); err != nil {
				return fmt.Errorf("decoding a log chunk: %w", err)
			}
			key := ch.Task + "/" + ch.Step
			if !follow && !want[key] {
				return nil
			}
			if err := fn(ch); err != nil {
				return err
			}
			if !follow && ch.Reset {
				delete(want, key)
				if len(want) == 0 && !Done(state) {
					return ErrStop
				}
			}
		case "end":
			var end struct {
				State string `json:"state"`
			}
			if json.Unmarshal(ev.Data, &end) == nil && end.State != "" {
				state = end.State
			}
			return ErrStop
		}
		return nil
	})
	return state, err
}
