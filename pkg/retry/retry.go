// Package retry is Slipway's one answer to "try again?": IsTransient
// classifies an error, TerminalError marks one that retrying cannot fix,
// and Delay spaces attempts with apimachinery's wait.Backoff.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TerminalError marks an error that retrying cannot fix (a bad address, a
// 4xx answer, a config that does not parse). It wins over anything else
// in the chain: IsTransient is false for it.
type TerminalError struct{ Err error }

func (e *TerminalError) Error() string { return e.Err.Error() }
func (e *TerminalError) Unwrap() error { return e.Err }

// Terminal wraps err as a TerminalError; nil stays nil.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &TerminalError{Err: err}
}

// IsTerminal reports whether err, or an error it wraps, is a TerminalError.
func IsTerminal(err error) bool {
	var t *TerminalError
	return errors.As(err, &t)
}

// TransientError marks an error worth retrying that carries no other sign
// of it (a host's 5xx or 429 turned into an error, a store write). When
// the other side said when to come back, RetryAfter is non-zero.
type TransientError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *TransientError) Error() string { return fmt.Sprintf("transient: %v", e.Err) }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient wraps err as a TransientError; nil stays nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err}
}

// IsTransient reports whether err is worth retrying, and how long the
// other side asked to wait (zero when it did not say): a TransientError,
// a deadline, a cut or refused connection, any net.Error, and the
// Kubernetes API's 429, 5xx, timeouts and conflicts. A TerminalError
// anywhere in the chain is never transient.
func IsTransient(err error) (bool, time.Duration) {
	if err == nil || IsTerminal(err) {
		return false, 0
	}
	var t *TransientError
	if errors.As(err, &t) {
		return true, t.RetryAfter
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true, 0
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true, 0
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		after := time.Duration(0)
		if s, ok := apierrors.SuggestsClientDelay(err); ok {
			after = time.Duration(s) * time.Second
		}
		switch {
		case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
			apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err),
			apierrors.IsConflict(err):
			return true, after
		}
		return se.Status().Code >= 500, after
	}
	return false, 0
}

// Exponential is the backoff Slipway uses: first, doubling up to max,
// each wait jittered up to half again so that many retries spread out.
func Exponential(first, max time.Duration) wait.Backoff {
	return wait.Backoff{Duration: first, Factor: 2, Jitter: 0.5, Cap: max, Steps: math.MaxInt32}
}

// Delay is the wait after failed attempt (counted from 1) under b:
// b.Duration·b.Factor^(attempt-1), capped at b.Cap, then jittered by
// b.Jitter. It keeps no state, so the attempt count can live in a store.
func Delay(b wait.Backoff, attempt int) time.Duration {
	jitter := b.Jitter
	b.Jitter = 0
	if b.Steps < attempt {
		b.Steps = attempt
	}
	for i := 1; i < attempt && b.Steps > 0; i++ {
		b.Step()
	}
	if b.Steps == 0 {
		// Capped: Step returns the cap without advancing.
		b.Steps = 1
	}
	b.Jitter = jitter
	return b.Step()
}
