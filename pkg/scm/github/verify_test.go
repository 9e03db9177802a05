package github

import (
	"strings"
	"testing"
)

func TestVerifySignature(t *testing.T) {
	secret := []byte("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	// The example from GitHub's "Validating webhook deliveries" page.
	const good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	tests := []struct {
		name    string
		secret  []byte
		header  string
		wantErr string
	}{
		{"valid", secret, good, ""},
		{"Sign agrees", secret, Sign(secret, body), ""},
		{"missing header", secret, "", "missing"},
		{"sha1 header", secret, "sha1=757107ea0eb2509fc211221cce984b8a37570b6d", "malformed"},
		{"not hex", secret, "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "malformed"},
		{"truncated", secret, good[:40], "malformed"},
		{"wrong secret", []byte("other"), good, "does not match"},
		{"tampered", secret, "sha256=857107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "does not match"},
		{"no secret configured", nil, good, "not configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, body, tt.header)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("VerifySignature() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("VerifySignature() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
