package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/dispatch"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/notify"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
)

// newNotifier builds the notifier from the MR comment, email and chat
// settings.
func newNotifier(cfg *config.Config, st store.Store, tc versioned.Interface, kc kubernetes.Interface,
	scms map[event.Provider]scm.Client, log *slog.Logger) (*notify.Notifier, error) {
	records, ok := st.(notify.Records)
	if !ok {
		return nil, errors.New("the store cannot record notifications")
	}
	var sumOpts []notify.SummarizerOption
	if logs, ok := st.(store.RunLogs); ok {
		sumOpts = append(sumOpts, notify.WithStepLogs(logs))
	}
	sum, err := notify.NewSummarizer(tc, kc, cfg.PublicURL, notify.DefaultLogLines, sumOpts...)
	if err != nil {
		return nil, err
	}
	opts := []notify.Option{notify.WithOnSuccess(cfg.NotifyOnSuccess), notify.WithLogger(log)}
	if cfg.MRComments {
		commenters := map[event.Provider]scm.Commenter{}
		for p, c := range scms {
			if cm, ok := c.(scm.Commenter); ok {
				commenters[p] = cm
			}
		}
		opts = append(opts, notify.WithMRComments(commenters))
	}
	if cfg.SMTPAddr != "" {
		m, err := notify.NewMailer(notify.SMTPConfig{
			Addr: cfg.SMTPAddr, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword.Reveal(),
			From: cfg.SMTPFrom, TLS: notify.TLSMode(cfg.SMTPTLS),
		})
		if err != nil {
			return nil, err
		}
		opts = append(opts, notify.WithEmail(m, cfg.NotifyEmail, cfg.NotifyCommitAuthor))
	}
	generic, slack := cfg.ChatWebhooks()
	for _, u := range generic {
		h, err := notify.NewWebhook(u, notify.JSONFormat, nil)
		if err != nil {
			return nil, err
		}
		opts = append(opts, notify.WithWebhooks(h))
	}
	for _, u := range slack {
		h, err := notify.NewWebhook(u, notify.SlackFormat, nil)
		if err != nil {
			return nil, err
		}
		opts = append(opts, notify.WithWebhooks(h))
	}
	return notify.New(records, sum.Summarize, opts...)
}

// onFinished is the reporter's hook for a run that reached a terminal
// state: start the repo's queued runs in the freed slot, then queue the
// run's notifications (which never block).
func onFinished(d *dispatch.Dispatcher, n *notify.Notifier, log *slog.Logger) func(context.Context, store.Run) {
	return func(ctx context.Context, run store.Run) {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		started, err := d.Admit(actx, run.Provider, run.Repo)
		cancel()
		if err != nil {
			// The dispatcher's periodic admission catches up.
			log.WarnContext(ctx, "starting queued runs", "repo", run.Repo, "err", fmt.Errorf("after %s: %w", run.ID, err))
		} else if started > 0 {
			log.InfoContext(ctx, "started queued runs", "repo", run.Repo, "count", started)
		}
		n.Finished(ctx, run)
	}
}
