package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// sse writes Server-Sent Events; goroutines following logs share it.
type sse struct {
	mu sync.Mutex
	w  http.ResponseWriter
	f  http.Flusher
}

// send writes one event. data is JSON on one line, so no data line can
// smuggle a second event in.
func (s *sse) send(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s event: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

// LogChunk is the data of a "log" event: text to append to a step's log,
// or to replace it when Reset is set (the first chunk of every step on
// every connection, so a reconnecting browser does not repeat lines).
type LogChunk struct {
	Task      string `json:"task"`
	Step      string `json:"step"`
	Text      string `json:"text"`
	Reset     bool   `json:"reset,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// stream sends the run's timeline whenever it changes and every step's
// log as it is written: "timeline", "log" and finally "end" events.
func (u *UI) stream(c echo.Context) error {
	release, ok := u.streams.take(c.RealIP())
	if !ok {
		c.Response().Header().Set("Retry-After", "10")
		return echo.NewHTTPError(http.StatusTooManyRequests, "too many live streams open: close some pages")
	}
	defer release()
	ns, name := c.Param("namespace"), c.Param("name")
	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	defer context.AfterFunc(u.stop, cancel)()
	first, err := u.load(ctx, ns, name)
	if errors.Is(err, errNoRun) {
		return echo.NewHTTPError(http.StatusNotFound, "no run "+ns+"/"+name)
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	f, ok := c.Response().Writer.(http.Flusher)
	if !ok {
		return echo.NewHTTPError(http.StatusInternalServerError, "streaming unsupported")
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold events back
	c.Response().WriteHeader(http.StatusOK)
	out := &sse{w: c.Response().Writer, f: f}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		started  = map[string]bool{}
		attempts = map[string]int{}
		last     []byte
	)
	defer wg.Wait()
	defer cancel()
	snap := first
	for {
		b, _ := json.Marshal(snap.tl)
		if string(b) != string(last) {
			if err := out.send("timeline", snap.tl); err != nil {
				return nil // the browser went away
			}
			last = b
		}
		for _, t := range snap.tl.Tasks {
			for _, st := range t.Steps {
				key := t.Name + "/" + st.Name
				mu.Lock()
				// Following a running step's log is retried a few times (the
				// container may not be readable yet); a finished step's log
				// is read until the run ends.
				skip := started[key] || st.State == Queued || attempts[key] >= 10 && !st.State.Done()
				if !skip {
					started[key] = true
					attempts[key]++
				}
				mu.Unlock()
				if skip {
					continue
				}
				wg.Add(1)
				cur := snap
				go func() {
					defer wg.Done()
					if err := u.streamStep(ctx, out, cur, t, st); err != nil && ctx.Err() == nil {
						// Let the next poll try again (a few times).
						mu.Lock()
						started[key] = false
						mu.Unlock()
					}
				}()
			}
		}
		if snap.tl.State.Done() {
			wg.Wait()
			_ = out.send("end", map[string]string{"state": string(snap.tl.State)})
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(u.poll):
		}
		next, err := u.load(ctx, ns, name)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// A blip of the API server: keep the stream, try again.
			continue
		}
		snap = next
	}
}

// streamStep sends one step's log: the saved one, or the pod's, followed
// while the step runs.
func (u *UI) streamStep(ctx context.Context, out *sse, snap *snapshot, t Task, st Step) error {
	if l := snap.stored(t.Name, st.Name); l != nil {
		return out.send("log", LogChunk{Task: t.Name, Step: st.Name, Text: l.Log, Reset: true, Truncated: l.Truncated})
	}
	if st.State.Done() {
		text, trunc, note := u.stepLog(ctx, snap, t, st)
		if note != "" {
			text = note
		}
		return out.send("log", LogChunk{Task: t.Name, Step: st.Name, Text: text, Reset: true, Truncated: trunc})
	}
	if t.Pod == "" {
		return errors.New("no pod yet")
	}
	reset := true
	var b strings.Builder
	flush := func() error {
		if b.Len() == 0 && !reset {
			return nil
		}
		err := out.send("log", LogChunk{Task: t.Name, Step: st.Name, Text: b.String(), Reset: reset})
		b.Reset()
		reset = false
		return err
	}
	err := followLog(ctx, u.kube, u.namespace, t.Pod, st.Container, func(line string) error {
		b.WriteString(line)
		return flush()
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	return err
}
