package auth

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseTokens: any tokens file either parses into at least one token or
// fails with an error that never quotes a token.
func FuzzParseTokens(f *testing.F) {
	f.Add("dev", "developer", "abcdefghijklmnopqrstuvwxyz012345", "")
	f.Add("rm", "release-manager", "0123456789abcdef0123456789abcdef", "- {name: x, role: admin, sha256: zz}\n")
	f.Add("", "admin", "short", "]]")
	f.Add("a", "nope", "tok-tok-tok-tok-tok", "- {name: a, role: admin, token: tok-tok-tok-tok-tok, extra: 1}\n")
	f.Fuzz(func(t *testing.T, name, role, token, extra string) {
		data := fmt.Sprintf("- {name: %q, role: %q, token: %q}\n%s", name, role, token, extra)
		toks, err := Parse([]byte(data))
		if err == nil {
			if toks.Len() < 1 {
				t.Fatalf("parsed %q into no tokens", data)
			}
			return
		}
		msg := err.Error()
		if len(token) >= MinTokenLength && strings.Contains(msg, token) &&
			!strings.Contains(name, token) && !strings.Contains(extra, token) && !strings.Contains(role, token) &&
			!strings.Contains(knownText, token) {
			t.Fatalf("error quotes the token %q: %s", token, msg)
		}
	})
}

// knownText is what the messages say by themselves; a "token" that is a
// piece of it is not leaked by being printed.
const knownText = "not a list of {name, role, token} or {name, role, sha256} entries (YAML or JSON): unknown field; no tokens listed; entry name is empty; unknown role: want developer, release-manager or admin; has both token and sha256; give one; token is shorter than characters; sha256 is not 64 hex digits; has neither token nor sha256; same token as entry; every token must be unique"
