package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/release"
)

func promotionOf(state release.PromotionState, reason string) release.Promotion {
	return release.Promotion{ID: 42, App: "hello", From: "qa", To: "prod", State: state, Reason: reason,
		Digest: "sha256:" + strings.Repeat("ab", 32), Commit: strings.Repeat("c", 40)}
}

func TestPromotionsPostToWebhooks(t *testing.T) {
	tests := []struct {
		name     string
		ev       release.PromotionEvent
		p        release.Promotion
		wantJSON PromotionPayload
		wantText string
	}{
		{
			name: "approval pending",
			ev:   release.EventApprovalPending,
			p:    promotionOf(release.PromotionAwaitingApproval, ""),
			wantJSON: PromotionPayload{Event: "promotion.approval-pending", Summary: "Approval needed: promotion 42 of hello abababababab to prod",
				State: "awaiting-approval"},
			wantText: "Approval needed: promotion 42 of hello abababababab to prod <https://slipway.test/promotions/42|details>",
		},
		{
			name: "rolled back",
			ev:   release.EventRolledBack,
			p:    promotionOf(release.PromotionFailed, "local: rolled back: 1 container restarts"),
			wantJSON: PromotionPayload{Event: "promotion.rolled-back", Summary: "Rolled back: promotion 42 of hello abababababab to prod",
				State: "failed", Reason: "local: rolled back: 1 container restarts"},
			wantText: "Rolled back: promotion 42 of hello abababababab to prod <https://slipway.test/promotions/42|details>\nlocal: rolled back: 1 container restarts",
		},
		{
			name:     "finished",
			ev:       release.EventFinished,
			p:        promotionOf(release.PromotionSucceeded, ""),
			wantJSON: PromotionPayload{Event: "promotion.finished", Summary: "Promoted: hello abababababab to prod (promotion 42)", State: "succeeded"},
			wantText: "Promoted: hello abababababab to prod (promotion 42) <https://slipway.test/promotions/42|details>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, slack := newHookServer(t), newHookServer(t)
			jh, err := NewWebhook(js.URL+"/secret", JSONFormat, nil)
			if err != nil {
				t.Fatal(err)
			}
			sh, err := NewWebhook(slack.URL+"/secret", SlackFormat, nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := NewPromotions("https://slipway.test/", WithPromotionWebhooks(jh, sh))
			if err != nil {
				t.Fatal(err)
			}
			n.NotifyPromotion(context.Background(), tt.ev, tt.p)
			n.Wait()

			want := tt.wantJSON
			want.Promotion, want.App, want.From, want.To, want.Digest, want.Commit = 42, "hello", "qa", "prod", tt.p.Digest, tt.p.Commit
			want.URL = "https://slipway.test/promotions/42"
			posts := js.posts()
			if len(posts) != 1 {
				t.Fatalf("JSON hook got %d posts, want 1", len(posts))
			}
			var got PromotionPayload
			if err := json.Unmarshal([]byte(posts[0]), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("JSON payload (-want +got):\n%s", diff)
			}
			sposts := slack.posts()
			if len(sposts) != 1 {
				t.Fatalf("Slack hook got %d posts, want 1", len(sposts))
			}
			var msg map[string]string
			if err := json.Unmarshal([]byte(sposts[0]), &msg); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantText, msg["text"]); diff != "" {
				t.Errorf("Slack text (-want +got):\n%s", diff)
			}
		})
	}
}

// A route that fails transiently is tried again; one that refuses for
// good (4xx) is not; neither holds up the others.
func TestPromotionsRetry(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		wantPosts int
	}{
		{"ok at once", nil, 1},
		{"5xx then ok", []int{http.StatusBadGateway, http.StatusServiceUnavailable}, 3},
		{"429 then ok", []int{http.StatusTooManyRequests}, 2},
		{"4xx is final", []int{http.StatusNotFound}, 1},
		{"gives up after the attempts", []int{500, 500, 500, 500}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHookServer(t, tt.statuses...)
			h, err := NewWebhook(hs.URL, JSONFormat, nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := NewPromotions("", WithPromotionWebhooks(h), WithPromotionRetry(3, time.Millisecond, time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			n.NotifyPromotion(context.Background(), release.EventFinished, promotionOf(release.PromotionSucceeded, ""))
			n.Wait()
			if got := len(hs.posts()); got != tt.wantPosts {
				t.Errorf("%d posts, want %d", got, tt.wantPosts)
			}
		})
	}
}

func TestPromotionsMail(t *testing.T) {
	ms := startMailServer(t, StartTLS)
	m, err := NewMailer(SMTPConfig{Addr: ms.addr, Username: "ci", Password: "s3cret", From: "Slipway <ci@example.com>", TLSConfig: &tls.Config{RootCAs: ms.ca}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewPromotions("https://slipway.test", WithPromotionEmail(m, []string{"release@example.com"}), WithPromotionRetry(1, time.Millisecond, time.Millisecond), WithPromotionLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	if err != nil {
		t.Fatal(err)
	}
	n.NotifyPromotion(context.Background(), release.EventRolledBack, promotionOf(release.PromotionFailed, "local: rolled back: crash loop"))
	n.Wait()
	got := ms.messages()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	msg, err := mail.ReadMessage(strings.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Rolled back: promotion 42 of hello abababababab to prod"; !strings.Contains(subject, want) {
		t.Errorf("Subject = %q, want it to hold %q", subject, want)
	}
	if !strings.Contains(got[0].Data, "local: rolled back: crash loop") || !strings.Contains(got[0].Data, "https://slipway.test/promotions/42") {
		t.Errorf("body lacks the reason or the link:\n%s", got[0].Data)
	}
}

func TestNewPromotionsRefuses(t *testing.T) {
	for name, opt := range map[string]PromotionOption{
		"nil hook":         WithPromotionWebhooks(nil),
		"email without to": WithPromotionEmail(&Mailer{}, nil),
		"bad retry":        WithPromotionRetry(0, time.Second, time.Second),
		"nil logger":       WithPromotionLogger(nil),
	} {
		if _, err := NewPromotions("", opt); err == nil {
			t.Errorf("%s: NewPromotions accepted it", name)
		}
	}
}
