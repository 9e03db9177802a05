package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/dispatch"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/notify"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
)

// newNotifier builds the notifier from the MR comment, email and chat
// settings. Its summaries read the runs from the shared informers.
func newNotifier(cfg *config.Config, st *store.DB, informers externalversions.SharedInformerFactory, kc kubernetes.Interface,
	scms map[event.Provider]scm.Client, log *slog.Logger, extra ...notify.Option) (*notify.Notifier, error) {
	prs, trs := informers.Tekton().V1().PipelineRuns(), informers.Tekton().V1().TaskRuns()
	sum, err := notify.NewSummarizer(prs.Lister(), trs.Lister(), kc, cfg.PublicURL, notify.DefaultLogLines, notify.WithStepLogs(st), notify.WithTestReports(st))
	if err != nil {
		return nil, err
	}
	summarize := func(ctx context.Context, run run.Run) notify.Summary {
		// A run that finished while the server was down is reported as soon
		// as the reporter's watch syncs: wait for the TaskRuns' too, but not
		// forever, a summary with a problem noted beats none.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cache.WaitForCacheSync(wctx.Done(), prs.Informer().HasSynced, trs.Informer().HasSynced)
		cancel()
		return sum.Summarize(ctx, run)
	}
	opts := append([]notify.Option{notify.WithOnSuccess(cfg.NotifyOnSuccess), notify.WithLogger(log)}, extra...)
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
	return notify.New(st, summarize, opts...)
}

// onFinished is the reporter's hook for a run that reached a terminal
// state: start the repo's queued runs in the freed slot, then queue the
// run's notifications (which never block).
func onFinished(d *dispatch.Dispatcher, n *notify.Notifier, log *slog.Logger) func(context.Context, run.Run) {
	return func(ctx context.Context, run run.Run) {
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
