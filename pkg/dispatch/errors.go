package dispatch

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// retryable marks an error from our own dependencies (the store) that is
// worth retrying even though it carries no API status.
type retryable struct{ err error }

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

// transient reports whether err is worth retrying, and how long the other
// side asked us to wait (zero when it did not say).
func transient(err error) (bool, time.Duration) {
	if ok, after := scm.IsTransient(err); ok {
		return true, after
	}
	var r *retryable
	if errors.As(err, &r) {
		return true, 0
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

// backoff is the wait before attempt+1: 1 s doubling up to max, with the
// upper half jittered so retries of many events spread out.
func backoff(attempt int, base, max time.Duration, rnd func(int64) int64) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(rnd(int64(half)+1))
}
