// Package github turns GitHub webhook deliveries into Slipway events and
// talks to the GitHub API (statuses, file contents) through go-github.
package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// SignatureHeader carries the HMAC-SHA256 of the body.
const SignatureHeader = "X-Hub-Signature-256"

// VerifySignature checks the X-Hub-Signature-256 header ("sha256=<hex>")
// against the HMAC-SHA256 of body keyed with secret. An empty secret never
// verifies: an unconfigured hook must not accept unsigned traffic.
func VerifySignature(secret, body []byte, header string) error {
	if len(secret) == 0 {
		return errors.New("github webhook secret is not configured")
	}
	if header == "" {
		return fmt.Errorf("missing %s header", SignatureHeader)
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("malformed %s header: want sha256=<hex>", SignatureHeader)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("malformed %s header: not a hex SHA-256", SignatureHeader)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("signature does not match the payload")
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 header value for body, as GitHub
// computes it. Useful for tests and for replaying fixtures (make demo).
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
