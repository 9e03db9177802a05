package dispatch

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/webhooks"
)

// delivery is one signed GitHub push, ready to send, and the event the
// floor builds its PipelineRun from.
type delivery struct {
	id        string // X-GitHub-Delivery
	sha       string // the pushed head, unique per delivery
	body      []byte
	signature string
}

// fixture is what the floor needs of the push payload.
type fixture struct {
	repo, cloneURL, ref string
}

// pushDeliveries builds n signed pushes from the real fixture, each with its
// own delivery id and head SHA, so none is a redelivery of another. tag
// keeps SHAs of different bursts apart.
func pushDeliveries(n int, secret []byte, tag string) ([]delivery, fixture, error) {
	raw, err := webhooks.FS.ReadFile("github/push.json")
	if err != nil {
		return nil, fixture{}, fmt.Errorf("read push fixture: %w", err)
	}
	var push map[string]json.RawMessage
	if err := json.Unmarshal(raw, &push); err != nil {
		return nil, fixture{}, fmt.Errorf("decode push fixture: %w", err)
	}
	var head map[string]json.RawMessage
	if err := json.Unmarshal(push["head_commit"], &head); err != nil || head == nil {
		return nil, fixture{}, errors.New("push fixture has no head_commit object")
	}
	var meta struct {
		Ref  string `json:"ref"`
		Repo struct {
			FullName string `json:"full_name"`
			CloneURL string `json:"clone_url"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fixture{}, fmt.Errorf("decode push fixture: %w", err)
	}
	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fixture{}, fmt.Errorf("run nonce: %w", err)
	}
	out := make([]delivery, n)
	for i := range out {
		sum := sha1.Sum(fmt.Appendf(nil, "dispatchbench %s %x %d", tag, nonce, i))
		sha := hex.EncodeToString(sum[:])
		quoted, _ := json.Marshal(sha)
		push["after"] = quoted
		head["id"] = quoted
		if push["head_commit"], err = json.Marshal(head); err != nil {
			return nil, fixture{}, fmt.Errorf("encode head_commit: %w", err)
		}
		body, err := json.Marshal(push)
		if err != nil {
			return nil, fixture{}, fmt.Errorf("encode push %d: %w", i, err)
		}
		id, err := uuid()
		if err != nil {
			return nil, fixture{}, err
		}
		out[i] = delivery{id: id, sha: sha, body: body, signature: github.Sign(secret, body)}
	}
	return out, fixture{repo: meta.Repo.FullName, cloneURL: meta.Repo.CloneURL, ref: meta.Ref}, nil
}

// floorEvent is the event Slipway would record for d, so the floor creates
// the same PipelineRun Slipway does.
func floorEvent(d delivery, f fixture, id int64) *event.Event {
	return &event.Event{
		ID: id, Provider: event.GitHub, Kind: event.Push, Action: event.Build, Delivery: d.id,
		Repo: f.repo, CloneURL: f.cloneURL, Ref: f.ref, SHA: d.sha,
	}
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
