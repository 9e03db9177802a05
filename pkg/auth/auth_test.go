package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	devToken   = "dev-token-0123456789"
	rmToken    = "rm-token-0123456789"
	adminToken = "admin-token-0123456789" // listed by its SHA-256 only
)

func loadTokens(t *testing.T) *Tokens {
	t.Helper()
	toks, err := Load(filepath.Join("testdata", "tokens.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return toks
}

func TestRoleAllows(t *testing.T) {
	tests := []struct {
		have, need Role
		want       bool
	}{
		{Developer, Developer, true},
		{Developer, ReleaseManager, false},
		{Developer, Admin, false},
		{ReleaseManager, Developer, true},
		{ReleaseManager, ReleaseManager, true},
		{ReleaseManager, Admin, false},
		{Admin, Developer, true},
		{Admin, ReleaseManager, true},
		{Admin, Admin, true},
		{"root", Developer, false},
		{"", Developer, false},
		{Admin, "root", false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.need); got != tt.want {
			t.Errorf("%q.Allows(%q) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	yamlToks := loadTokens(t)
	jsonToks, err := Load(filepath.Join("testdata", "tokens.json"))
	if err != nil {
		t.Fatalf("Load json: %v", err)
	}
	type result struct {
		ID Identity
		OK bool
	}
	tests := []struct {
		name  string
		toks  *Tokens
		token string
		want  result
	}{
		{"developer, first entry", yamlToks, devToken, result{Identity{"dana", Developer}, true}},
		{"release manager", yamlToks, rmToken, result{Identity{"rita", ReleaseManager}, true}},
		{"sha256 entry, last entry", yamlToks, adminToken, result{Identity{"ada", Admin}, true}},
		{"json, upper-case hex", jsonToks, adminToken, result{Identity{"ada", Admin}, true}},
		{"json, token not listed there", jsonToks, rmToken, result{}},
		{"unknown", yamlToks, "not-a-token-0123456789", result{}},
		{"prefix of a token", yamlToks, devToken[:len(devToken)-1], result{}},
		{"token plus a character", yamlToks, devToken + "x", result{}},
		{"the sha256 itself is not a token", yamlToks, "ca8d40e6ce4716b552f1c69863335b502f2afb57ffae171d6675fd56d91ca5b2", result{}},
		{"empty", yamlToks, "", result{}},
		{"no tokens configured", nil, devToken, result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := tt.toks.Authenticate(tt.token)
			if diff := cmp.Diff(tt.want, result{id, ok}); diff != "" {
				t.Errorf("Authenticate (-want +got):\n%s", diff)
			}
		})
	}
	if got := yamlToks.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}
	if got := (*Tokens)(nil).Len(); got != 0 {
		t.Errorf("nil Len = %d, want 0", got)
	}
}

func TestParseErrors(t *testing.T) {
	const secret = "s3cret-token-0123456789"
	tests := []struct {
		name, data, wantErr string
	}{
		{"not a list", "name: dana\nrole: developer\n", "not a list of {name, role, token}"},
		{"not yaml", "- [", "not a list"},
		{"unknown field", "- {name: dana, role: developer, token: " + secret + ", scope: all}", `unknown field "scope"`},
		{"token is not a string", "- {name: dana, role: developer, token: [" + secret + "]}", "not a list"},
		{"empty", "", "no tokens listed"},
		{"empty list", "[]", "no tokens listed"},
		{"empty name", "- {name: ' ', role: developer, token: " + secret + "}", "entry 1: name is empty"},
		{"unknown role", "- {name: dana, role: developer, token: " + secret + "}\n- {name: bob, role: root, token: other-token-0123456789}",
			`entry 2 (bob): unknown role "root": want developer, release-manager or admin`},
		{"missing role", "- {name: bob, token: " + secret + "}", `entry 1 (bob): unknown role ""`},
		{"short token", "- {name: bob, role: admin, token: short-" + secret[:5] + "}", "entry 1 (bob): token is shorter than 16 characters"},
		{"both forms", "- {name: bob, role: admin, token: " + secret + ", sha256: ca8d40e6ce4716b552f1c69863335b502f2afb57ffae171d6675fd56d91ca5b2}",
			"entry 1 (bob): has both token and sha256"},
		{"neither form", "- {name: bob, role: admin}", "entry 1 (bob): has neither token nor sha256"},
		{"bad hex", "- {name: bob, role: admin, sha256: xyz}", "entry 1 (bob): sha256 is not 64 hex digits"},
		{"short hex", "- {name: bob, role: admin, sha256: ca8d40}", "entry 1 (bob): sha256 is not 64 hex digits"},
		{"duplicate token", "- {name: dana, role: developer, token: " + secret + "}\n- {name: bob, role: admin, token: " + secret + "}",
			"entry 2 (bob): same token as entry 1 (dana); every token must be unique"},
		{"duplicate of a sha256 entry", "- {name: ada, role: admin, sha256: ca8d40e6ce4716b552f1c69863335b502f2afb57ffae171d6675fd56d91ca5b2}\n" +
			"- {name: eve, role: developer, token: " + adminToken + "}", "entry 2 (eve): same token as entry 1 (ada)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, err := Parse([]byte(tt.data))
			if err == nil {
				t.Fatalf("Parse = %d tokens, want error %q", toks.Len(), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), adminToken) {
				t.Errorf("Parse error %q reveals a token", err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "reading API tokens") {
		t.Errorf("Load(missing) error = %v, want a read error", err)
	}
	bad := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(bad, []byte("- {name: bob, role: admin}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	if want := "API tokens file " + bad + ": entry 1 (bob): has neither token nor sha256"; err == nil || err.Error() != want {
		t.Errorf("Load(bad) error = %v, want %q", err, want)
	}
}
