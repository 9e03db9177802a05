package github

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// classify wraps err with op and marks what is worth retrying: rate limits,
// 5xx, 429 and network failures. Anything else (401, 403, 422…) is permanent.
func classify(op string, resp *gh.Response, err error) error {
	wrapped := fmt.Errorf("%s: %w", op, err)
	var rl *gh.RateLimitError
	if errors.As(err, &rl) {
		return &scm.TransientError{Err: wrapped, RetryAfter: max(time.Until(rl.Rate.Reset.Time), 0)}
	}
	var abuse *gh.AbuseRateLimitError
	if errors.As(err, &abuse) {
		var after time.Duration
		if abuse.RetryAfter != nil {
			after = *abuse.RetryAfter
		}
		return &scm.TransientError{Err: wrapped, RetryAfter: after}
	}
	if resp != nil && resp.Response != nil {
		code := resp.StatusCode
		if code >= 500 || code == http.StatusTooManyRequests {
			return &scm.TransientError{Err: wrapped, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
		}
		return wrapped
	}
	if errors.Is(err, context.Canceled) {
		return wrapped
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &netErr) || errors.As(err, &urlErr) || errors.Is(err, context.DeadlineExceeded) {
		return &scm.TransientError{Err: wrapped}
	}
	return wrapped
}

// retryAfter reads a Retry-After header in seconds; dates and junk give 0.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(h)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
