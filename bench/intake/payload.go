package intake

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/webhooks"
)

// delivery is one signed GitHub push, ready to send.
type delivery struct {
	id        string // X-GitHub-Delivery
	body      []byte
	signature string
}

// pushDeliveries builds n signed push deliveries from the real fixture, each
// with its own delivery id and its own head SHA, so that none is a
// redelivery of another and each becomes its own queued event.
func pushDeliveries(n int, secret []byte) ([]delivery, error) {
	fixture, err := webhooks.FS.ReadFile("github/push.json")
	if err != nil {
		return nil, fmt.Errorf("read push fixture: %w", err)
	}
	var push map[string]json.RawMessage
	if err := json.Unmarshal(fixture, &push); err != nil {
		return nil, fmt.Errorf("decode push fixture: %w", err)
	}
	var head map[string]json.RawMessage
	if err := json.Unmarshal(push["head_commit"], &head); err != nil {
		return nil, fmt.Errorf("push fixture head_commit: %w", err)
	}
	if head == nil {
		return nil, errors.New("push fixture has no head_commit object")
	}
	// A random run nonce keeps SHAs unique across runs that share a store.
	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("run nonce: %w", err)
	}
	out := make([]delivery, n)
	for i := range out {
		sum := sha1.Sum(fmt.Appendf(nil, "intakebench %x %d", nonce, i))
		sha, err := json.Marshal(hex.EncodeToString(sum[:]))
		if err != nil {
			return nil, err
		}
		push["after"] = sha
		head["id"] = sha
		if push["head_commit"], err = json.Marshal(head); err != nil {
			return nil, fmt.Errorf("encode head_commit: %w", err)
		}
		body, err := json.Marshal(push)
		if err != nil {
			return nil, fmt.Errorf("encode push %d: %w", i, err)
		}
		id, err := uuid()
		if err != nil {
			return nil, err
		}
		out[i] = delivery{id: id, body: body, signature: github.Sign(secret, body)}
	}
	return out, nil
}

// uuid returns a random (version 4) UUID, the form GitHub delivery ids take.
func uuid() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("delivery id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
