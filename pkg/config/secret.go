package config

import (
	"encoding/json"
	"log/slog"
)

// Secret holds a credential. It prints, logs and marshals as "[redacted]",
// so it cannot leak through a log line, an error or a JSON dump.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret for the one place that needs it.
func (s Secret) Reveal() string { return s.v }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s.v != "" }

func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps JSON dumps from printing the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// secretValue adapts *Secret to pflag.Value.
type secretValue struct{ s *Secret }

func (v secretValue) String() string     { return v.s.String() }
func (v secretValue) Set(x string) error { v.s.v = x; return nil }
func (v secretValue) Type() string       { return "secret" }
