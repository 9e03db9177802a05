package release

// PromotionEvent is a moment of a promotion the team hears about.
type PromotionEvent string

const (
	// EventApprovalPending: the promotion waits for a release manager.
	EventApprovalPending PromotionEvent = "promotion.approval-pending"
	// EventRolledBack: a rollout failed and was undone; the environment
	// runs what it ran before.
	EventRolledBack PromotionEvent = "promotion.rolled-back"
	// EventFinished: the promotion ended otherwise (its State says how).
	EventFinished PromotionEvent = "promotion.finished"
)
