package api

import (
	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// The API answers its own wire types, converted field by field here, so a
// new store column is not published by accident and a renamed one does not
// break clients.

func eventView(e *event.Event) wire.Event {
	return wire.Event{
		ID: e.ID, Provider: string(e.Provider), Kind: string(e.Kind), Repo: e.Repo, Ref: e.Ref, SHA: e.SHA,
		Delivery: e.Delivery, State: string(e.State), Reason: e.Reason, Attempts: e.Attempts,
		LastError: e.LastError, MRNumber: e.MRNumber, ReceivedAt: e.ReceivedAt,
	}
}

// runView leaves out Reported: which state was posted to the git host is
// the reporter's bookkeeping.
func runView(r *run.Run) wire.Run {
	return wire.Run{
		ID: r.ID, EventID: r.EventID, Provider: string(r.Provider), Kind: string(r.Kind), Repo: r.Repo,
		ProjectID: r.ProjectID, App: r.App, Ref: r.Ref, SHA: r.SHA, MRNumber: r.MRNumber, State: string(r.State),
		Message: r.Message, ImageURL: r.ImageURL, ImageDigest: r.ImageDigest,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
	}
}

func promotionView(p *release.Promotion) wire.Promotion {
	return wire.Promotion{
		ID: p.ID, Kind: string(p.Kind), App: p.App, From: p.From, To: p.To, Digest: p.Digest,
		SourceImage: p.SourceImage, TargetImage: p.TargetImage, Commit: p.Commit, RunID: p.RunID,
		State: string(p.State), Reason: p.Reason, Progress: p.Progress, RequestedBy: p.RequestedBy,
		ApprovedBy: p.ApprovedBy, PipelineRuns: p.PipelineRuns,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, FinishedAt: p.FinishedAt,
	}
}

func auditView(e *release.AuditEntry) wire.AuditEntry {
	return wire.AuditEntry{
		ID: e.ID, At: e.At, Actor: e.Actor, Role: e.Role, Action: e.Action, App: e.App, From: e.From, To: e.To,
		Digest: e.Digest, PromotionID: e.PromotionID, Result: e.Result,
	}
}

// notificationView leaves out the sender's lease (ClaimedUntil, Claim).
func notificationView(n *store.Notification) wire.Notification {
	return wire.Notification{
		ID: n.ID, RunID: n.RunID, Repo: n.Repo, Channel: n.Channel, Target: n.Target, Subject: n.Subject,
		State: string(n.State), Attempts: n.Attempts, LastError: n.LastError, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt,
	}
}

// listOf converts rows into a list answer; no rows is an empty list, not null.
func listOf[R, V any](rows []R, view func(*R) V) wire.List[V] {
	out := wire.List[V]{Items: make([]V, 0, len(rows))}
	for i := range rows {
		out.Items = append(out.Items, view(&rows[i]))
	}
	return out
}
