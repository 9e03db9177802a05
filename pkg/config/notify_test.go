package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNotifySettings(t *testing.T) {
	base := []string{"--github-webhook-secret=s", "--github-token=t", "--image-registry=r.local/team"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "no notifications", args: base},
		{name: "email", args: append(base, "--smtp-addr=mail:587", "--smtp-from=ci@example.com", "--smtp-username=ci", "--smtp-password=p", "--notify-email=a@x,b@x")},
		{name: "email without server", args: append(base, "--notify-email=a@x"), wantErr: "smtp-addr is not"},
		{name: "server without sender", args: append(base, "--smtp-addr=mail:587"), wantErr: "smtp-from is not"},
		{name: "bad tls", args: append(base, "--smtp-tls=ssl"), wantErr: `smtp-tls "ssl"`},
		{name: "password without user", args: append(base, "--smtp-password=p"), wantErr: "smtp-username is not"},
		{name: "negative limit", args: append(base, "--max-running-per-repo=-1"), wantErr: "max-running-per-repo"},
		{name: "negative prune keep", args: append(base, "--prune-keep=-1"), wantErr: "prune-keep must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.args, tt.env, "")
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestChatWebhooks(t *testing.T) {
	c, err := load(t, nil, map[string]string{
		"SLIPWAY_CHAT_WEBHOOK_URL":  "https://a.example/hook, https://b.example/hook",
		"SLIPWAY_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
	}, "max-running-per-repo: 3\nnotify-email: [a@x, b@x]\n")
	if err != nil {
		t.Fatal(err)
	}
	generic, slack := c.ChatWebhooks()
	got := map[string][]string{"generic": generic, "slack": slack, "email": c.NotifyEmail}
	want := map[string][]string{
		"generic": {"https://a.example/hook", "https://b.example/hook"},
		"slack":   {"https://hooks.slack.com/services/T/B/X"},
		"email":   {"a@x", "b@x"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if c.MaxRunningPerRepo != 3 {
		t.Errorf("MaxRunningPerRepo = %d, want 3", c.MaxRunningPerRepo)
	}
	if s := c.SlackWebhookURL.String(); strings.Contains(s, "hooks.slack.com") {
		t.Errorf("the Slack URL prints as %q", s)
	}
}
