package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pkg/retry"
)

// ChatFormat is the payload a chat webhook expects.
type ChatFormat string

const (
	// JSONFormat posts Slipway's own JSON document (see ChatPayload).
	JSONFormat ChatFormat = "json"
	// SlackFormat posts a Slack-compatible incoming-webhook message
	// ({"text": ..., "blocks": [...]}), which Mattermost, Rocket.Chat and
	// others accept too.
	SlackFormat ChatFormat = "slack"
)

// ChatPayload is the generic JSON webhook document.
type ChatPayload struct {
	Event       string   `json:"event"` // always "run.finished"
	Run         string   `json:"run"`
	Repo        string   `json:"repo"`
	Provider    string   `json:"provider"`
	Ref         string   `json:"ref"`
	SHA         string   `json:"sha"`
	MRNumber    int      `json:"mrNumber,omitempty"`
	State       string   `json:"state"`
	Summary     string   `json:"summary"`
	FailedTask  string   `json:"failedTask,omitempty"`
	FailedStep  string   `json:"failedStep,omitempty"`
	LogTail     []string `json:"logTail,omitempty"`
	DurationSec int64    `json:"durationSeconds,omitempty"`
	Image       string   `json:"image,omitempty"`
	ImageDigest string   `json:"imageDigest,omitempty"`
	URL         string   `json:"url,omitempty"`
}

// Webhook posts run summaries to one chat webhook URL.
type Webhook struct {
	url    string
	format ChatFormat
	client *http.Client
}

// NewWebhook returns a Webhook for rawURL in format. A nil client means one
// with a 15 s timeout.
func NewWebhook(rawURL string, format ChatFormat, client *http.Client) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("chat webhook: want an absolute http(s) URL, got %q", redactURL(rawURL))
	}
	if format != JSONFormat && format != SlackFormat {
		return nil, fmt.Errorf("chat webhook: unknown format %q", format)
	}
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	return &Webhook{url: rawURL, format: format, client: client}, nil
}

// Target names the webhook without its secret path or query.
func (w *Webhook) Target() string { return redactURL(w.url) }

// Channel is "webhook" or "slack".
func (w *Webhook) Channel() string {
	if w.format == SlackFormat {
		return "slack"
	}
	return "webhook"
}

// redactURL keeps scheme and host: a Slack webhook's path is its secret.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// Post sends s. 5xx, 429 and network errors are worth retrying; any
// other non-2xx answer is permanent.
func (w *Webhook) Post(ctx context.Context, s Summary) error {
	body, err := w.payload(s)
	if err != nil {
		return retry.Terminal(err)
	}
	return w.send(ctx, body)
}

// send posts one JSON body: 5xx, 429 and network errors are retried, other
// non-2xx answers are final; errors name the host, never the secret path.
func (w *Webhook) send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return retry.Terminal(fmt.Errorf("chat webhook %s: %w", w.Target(), err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "slipway")
	resp, err := w.client.Do(req)
	if err != nil {
		// The error names the URL, and with it the secret path.
		return fmt.Errorf("chat webhook %s: %s", w.Target(), strings.ReplaceAll(err.Error(), w.url, w.Target()))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("chat webhook %s: %s: %s", w.Target(), resp.Status, strings.TrimSpace(string(snippet)))
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return err
	}
	return retry.Terminal(err)
}

func (w *Webhook) payload(s Summary) ([]byte, error) {
	if w.format == SlackFormat {
		return json.Marshal(slackMessage(s))
	}
	r := s.Run
	p := ChatPayload{
		Event: "run.finished", Run: r.ID, Repo: r.Repo, Provider: string(r.Provider), Ref: r.Ref, SHA: r.SHA,
		MRNumber: r.MRNumber, State: string(r.State), Summary: Subject(s), FailedTask: s.FailedTask,
		FailedStep: s.FailedStep, LogTail: s.LogTail, DurationSec: int64(s.Duration().Seconds()),
		Image: r.ImageURL, ImageDigest: r.ImageDigest, URL: s.Link,
	}
	return json.Marshal(p)
}

// slackMessage is an incoming-webhook message: text for notifications and
// clients without blocks, blocks for the rest.
func slackMessage(s Summary) map[string]any {
	text := Subject(s)
	if s.Link != "" {
		text += " <" + s.Link + "|details>"
	}
	detail := fmt.Sprintf("*%s* %s `%s`", s.Run.Repo, where(s.Run), s.Run.ShortSHA())
	if s.FailedTask != "" {
		detail += fmt.Sprintf("\nFailed task: `%s`", s.FailedTask)
	}
	if d := s.Duration(); d > 0 {
		detail += "\nDuration: " + d.String()
	}
	blocks := []map[string]any{{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": text + "\n" + detail}}}
	if len(s.LogTail) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]string{
			"type": "mrkdwn", "text": "```" + lastRunes(strings.Join(s.LogTail, "\n"), slackTextMax) + "```",
		}})
	}
	return map[string]any{"text": text, "blocks": blocks}
}

// slackTextMax keeps a block's text under Slack's 3000-character limit,
// with room for the fences.
const slackTextMax = 2900

// lastRunes keeps the end of s, where a failure's cause usually is.
func lastRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
