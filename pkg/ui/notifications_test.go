package ui

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// withNotes shows the store's notifications.
func withNotes(st *store.DB) []Option {
	return []Option{WithNotifications(st)}
}

func addNotes(t *testing.T, st *store.DB, notes ...store.Notification) {
	t.Helper()
	for _, n := range notes {
		if err := st.CreateNotification(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
	}
}

var noteRowRE = regexp.MustCompile(`<tr data-notification="\d+" data-state="([a-z]+)">\s*(?:<td[^>]*>[^\n]*</td>\s*)*?<td data-label="Channel">([^<]+)</td>`)

// noteRows are the state and channel of each notification row of body.
func noteRows(body string) []string {
	var out []string
	for _, m := range noteRowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

func TestRunPageNotifications(t *testing.T) {
	e := newEnvWith(t, objects(true), withNotes)
	e.recordRun(run.Failed)
	id := ns + "/" + runName
	addNotes(t, e.st,
		store.Notification{RunID: id, Channel: "mr-comment", Target: "acme/web#7", State: store.NotificationSent, Attempts: 1},
		store.Notification{RunID: id, Channel: "webhook", Target: "https://chat.example.com", State: store.NotificationFailed,
			Attempts: 6, LastError: "chat webhook https://chat.example.com: 503 <b>Service Unavailable</b>"},
		store.Notification{RunID: ns + "/other-run", Channel: "email", Target: "dev@example.com", State: store.NotificationFailed})

	code, body, _ := e.get("/runs/" + ns + "/" + runName)
	if code != 200 {
		t.Fatalf("run page: %d\n%s", code, body)
	}
	if diff := cmp.Diff([]string{"sent mr-comment", "failed webhook"}, noteRows(body)); diff != "" {
		t.Errorf("the run's notifications, oldest first (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		`<h2 id="notifications-title">Notifications</h2>`,
		`<td data-label="To">https://chat.example.com</td>`,
		`<span aria-hidden="true">✗</span> Failed</span>`,
		`<td data-label="Attempts">6</td>`,
		`503 &lt;b&gt;Service Unavailable&lt;/b&gt;`,
		`<a href="/notifications">Notifications</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}

}

func TestNotificationsPage(t *testing.T) {
	e := newEnvWith(t, nil, withNotes)
	addNotes(t, e.st,
		store.Notification{RunID: ns + "/web-1", Repo: "acme/web", Channel: "email", Target: "dev@example.com", State: store.NotificationFailed,
			Attempts: 6, LastError: "dial tcp: connection refused"},
		store.Notification{RunID: ns + "/web-2", Repo: "acme/web", Channel: "slack", Target: "https://hooks.slack.com", State: store.NotificationSent, Attempts: 1},
		store.Notification{RunID: ns + "/web-3", Repo: "acme/web", Channel: "webhook", Target: "https://chat.example.com"})
	for _, tc := range []struct {
		query string
		code  int
		rows  []string
		has   []string
	}{
		// Newest first.
		{"", 200, []string{"pending webhook", "sent slack", "failed email"}, []string{
			`<a href="/notifications" aria-current="page">Notifications</a>`,
			`<a href="/runs/` + ns + `/web-1">web-1</a>`,
			`<span class="error">dial tcp: connection refused</span>`,
			`<span aria-hidden="true">…</span> Pending`,
		}},
		{"?state=failed", 200, []string{"failed email"}, []string{`<option value="failed" selected>failed</option>`}},
		{"?state=sent", 200, []string{"sent slack"}, nil},
		{"?state=lost", 400, nil, []string{`role="alert"`}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, body, _ := e.get("/notifications" + tc.query)
			if code != tc.code {
				t.Fatalf("status %d, want %d\n%s", code, tc.code, body)
			}
			if diff := cmp.Diff(tc.rows, noteRows(body)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			for _, want := range tc.has {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
		})
	}
}

// Without WithNotifications there is neither the page nor the link.
func TestNotificationsOff(t *testing.T) {
	e := newEnv(t, objects(true))
	e.recordRun(run.Failed)
	if code, _, _ := e.get("/notifications"); code != 404 {
		t.Errorf("GET /notifications: %d, want 404", code)
	}
	_, body, _ := e.get("/runs/" + ns + "/" + runName)
	if strings.Contains(body, `href="/notifications"`) || strings.Contains(body, "notifications-title") {
		t.Error("the run page shows notifications the UI was not given")
	}
}
