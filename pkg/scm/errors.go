package scm

import "errors"

// Sentinels shared by every host's webhook parser, so the webhook handler can
// answer the same way whichever host sent the delivery.
var (
	// ErrUnsupportedEvent means the host sent an event type Slipway does not
	// act on; the caller acknowledges it without recording anything.
	ErrUnsupportedEvent = errors.New("unsupported event type")
	// ErrMalformed means the payload is not valid JSON or lacks a field
	// Slipway needs; the wrapping error says which.
	ErrMalformed = errors.New("malformed payload")
	// ErrPing is GitHub's hook-created ping: nothing to record.
	ErrPing = errors.New("ping")
)
