package event

// Receipt is what intake did with a verified delivery: the id it is
// recorded under, whether it was a redelivery of one recorded before
// (nothing was written), and, when a dispatch worker took it at once,
// Dispatch, which gets what dispatching it did before that is recorded.
// A nil Dispatch: the event waits in the queue.
type Receipt struct {
	ID        int64
	Duplicate bool
	Dispatch  <-chan Outcome
}
