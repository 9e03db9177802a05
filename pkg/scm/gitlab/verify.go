// Package gitlab turns GitLab webhook deliveries into Slipway events and
// talks to the GitLab API (commit statuses, raw files) through go-gitlab.
package gitlab

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// TokenHeader carries the secret token configured on the GitLab webhook.
const TokenHeader = "X-Gitlab-Token" //nolint:gosec // a header name, not a credential

// VerifyToken checks the X-Gitlab-Token header against the configured token
// in constant time. An empty configured token never matches, so a missing
// configuration cannot turn into an open door.
func VerifyToken(want, got string) error {
	if want == "" {
		return errors.New("gitlab webhook token is not configured")
	}
	if got == "" {
		return fmt.Errorf("missing %s header", TokenHeader)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return errors.New("webhook token does not match")
	}
	return nil
}
