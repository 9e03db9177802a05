package server

import (
	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/notify"
)

// promotionNotifier sends promotion events (approval pending, rolled
// back, finished) to the routes the run notifications use: the chat
// webhooks and, with SMTP, the --notify-email addresses. Nil when no
// route is configured.
func promotionNotifier(cfg *config.Config) (*notify.Promotions, error) {
	var opts []notify.PromotionOption
	generic, slack := cfg.ChatWebhooks()
	for _, u := range generic {
		h, err := notify.NewWebhook(u, notify.JSONFormat, nil)
		if err != nil {
			return nil, err
		}
		opts = append(opts, notify.WithPromotionWebhooks(h))
	}
	for _, u := range slack {
		h, err := notify.NewWebhook(u, notify.SlackFormat, nil)
		if err != nil {
			return nil, err
		}
		opts = append(opts, notify.WithPromotionWebhooks(h))
	}
	if cfg.SMTPAddr != "" && len(cfg.NotifyEmail) > 0 {
		m, err := notify.NewMailer(notify.SMTPConfig{
			Addr: cfg.SMTPAddr, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword.Reveal(),
			From: cfg.SMTPFrom, TLS: notify.TLSMode(cfg.SMTPTLS),
		})
		if err != nil {
			return nil, err
		}
		opts = append(opts, notify.WithPromotionEmail(m, cfg.NotifyEmail))
	}
	if len(opts) == 0 {
		return nil, nil
	}
	return notify.NewPromotions(cfg.PublicURL, opts...)
}
