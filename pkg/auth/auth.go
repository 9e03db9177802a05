// Package auth maps API bearer tokens to people and roles, and guards echo
// routes with them. Tokens come from a file (a mounted Secret) that holds
// either the tokens themselves or only their SHA-256, so the file need not
// hold the secret.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// Role is what a token's holder may do.
type Role string

const (
	// Developer reads everything and promotes into environments that need
	// no approval.
	Developer Role = "developer"
	// ReleaseManager also approves, and promotes into guarded environments.
	ReleaseManager Role = "release-manager"
	// Admin may do everything, e.g. delete apps.
	Admin Role = "admin"
)

// rank orders the roles; 0 is not a role.
func (r Role) rank() int {
	switch r {
	case Developer:
		return 1
	case ReleaseManager:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether r has at least the privileges of need (developer <
// release-manager < admin). Unknown roles allow nothing and are allowed by
// nothing.
func (r Role) Allows(need Role) bool {
	return r.Valid() && need.Valid() && r.rank() >= need.rank()
}

// Identity is who a request comes from.
type Identity struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// MinTokenLength is the shortest token accepted in plain form.
const MinTokenLength = 16

// Tokens is a validated set of API tokens. A nil *Tokens means none are
// configured: it authenticates nobody.
type Tokens struct {
	entries []entry
}

type entry struct {
	id  Identity
	sum [sha256.Size]byte
}

// fileEntry is one item of the tokens file.
type fileEntry struct {
	Name  string `json:"name"`
	Role  Role   `json:"role"`
	Token string `json:"token,omitempty"`
	// SHA256 is the hex SHA-256 of the token, e.g. from
	// `printf %s "$TOKEN" | sha256sum`.
	SHA256 string `json:"sha256,omitempty"`
}

// Load reads a YAML or JSON file: a list of {name, role, token} or {name,
// role, sha256} (hex sha256 of the token, so the file need not hold the
// secret).
func Load(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading API tokens: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("API tokens file %s: %w", path, err)
	}
	return t, nil
}

// Parse reads the tokens file's content (YAML or JSON, see Load). Errors
// name the offending entry, never its token.
func Parse(data []byte) (*Tokens, error) {
	var items []fileEntry
	if err := yaml.UnmarshalStrict(data, &items); err != nil {
		// The YAML decoder quotes the input it could not read, which may
		// hold a token: pass on only the name of an unknown field.
		msg := "not a list of {name, role, token} or {name, role, sha256} entries (YAML or JSON)"
		if _, field, ok := strings.Cut(err.Error(), "unknown field "); ok {
			msg += ": unknown field " + field
		}
		return nil, errors.New(msg)
	}
	if len(items) == 0 {
		return nil, errors.New("no tokens listed")
	}
	t := &Tokens{entries: make([]entry, 0, len(items))}
	seen := make(map[[sha256.Size]byte]int, len(items))
	for i, it := range items {
		where := fmt.Sprintf("entry %d", i+1)
		if name := strings.TrimSpace(it.Name); name != "" {
			where += fmt.Sprintf(" (%s)", name)
		}
		e, err := it.entry()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if j, dup := seen[e.sum]; dup {
			return nil, fmt.Errorf("%s: same token as entry %d (%s); every token must be unique", where, j+1, items[j].Name)
		}
		seen[e.sum] = i
		t.entries = append(t.entries, e)
	}
	return t, nil
}

func (it fileEntry) entry() (entry, error) {
	e := entry{id: Identity{Name: strings.TrimSpace(it.Name), Role: it.Role}}
	if e.id.Name == "" {
		return entry{}, errors.New("name is empty")
	}
	if !it.Role.Valid() {
		return entry{}, fmt.Errorf("unknown role %q: want %s, %s or %s", it.Role, Developer, ReleaseManager, Admin)
	}
	switch {
	case it.Token != "" && it.SHA256 != "":
		return entry{}, errors.New("has both token and sha256; give one")
	case it.Token != "":
		if len(it.Token) < MinTokenLength {
			return entry{}, fmt.Errorf("token is shorter than %d characters", MinTokenLength)
		}
		e.sum = sha256.Sum256([]byte(it.Token))
	case it.SHA256 != "":
		b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(it.SHA256), "sha256:"))
		if err != nil || len(b) != sha256.Size {
			return entry{}, errors.New("sha256 is not 64 hex digits")
		}
		copy(e.sum[:], b)
	default:
		return entry{}, errors.New("has neither token nor sha256")
	}
	return e, nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

// Authenticate compares in constant time; unknown → false.
func (t *Tokens) Authenticate(token string) (Identity, bool) {
	if t == nil || token == "" {
		return Identity{}, false
	}
	// Comparing digests makes every comparison the same length, and every
	// entry is compared, so the time says nothing about which one matched.
	sum := sha256.Sum256([]byte(token))
	match := -1
	for i := range t.entries {
		eq := subtle.ConstantTimeCompare(sum[:], t.entries[i].sum[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return Identity{}, false
	}
	return t.entries[match].id, true
}

// has reports whether an entry of this name and role is still listed, so
// a session outlives neither its token nor a change of role.
func (t *Tokens) has(id Identity) bool {
	if t == nil {
		return false
	}
	for _, e := range t.entries {
		if e.id == id {
			return true
		}
	}
	return false
}

type (
	identityKey struct{}
	noTokensKey struct{}
)

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity the request authenticated as.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// withoutTokens marks ctx as served without any tokens configured, so a
// later Check can say why nobody can be authenticated.
func withoutTokens(ctx context.Context) context.Context {
	return context.WithValue(ctx, noTokensKey{}, true)
}

func noTokens(ctx context.Context) bool {
	v, _ := ctx.Value(noTokensKey{}).(bool)
	return v
}
