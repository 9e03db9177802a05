package gitlab

import (
	"net/http"
	"strconv"
	"time"
)

// now is replaced in tests that check RateLimit-Reset arithmetic.
var now = time.Now

// retryAfter reads how long GitLab asked to wait: Retry-After in seconds,
// else the RateLimit-Reset epoch. Anything unreadable gives 0.
func retryAfter(h http.Header) time.Duration {
	if n, err := strconv.Atoi(h.Get("Retry-After")); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if epoch, err := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64); err == nil {
		return max(time.Unix(epoch, 0).Sub(now()), 0)
	}
	return 0
}
