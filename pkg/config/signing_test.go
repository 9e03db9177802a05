package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

// The signing settings as deploy/config.yaml and the local stack give
// them: paths in the environment, the password read from its file.
func TestSigningSettingsFromEnv(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "cosign.password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c := Bind(fs)
	env := map[string]string{
		"SLIPWAY_SIGNING_KEY_FILE":          "/etc/slipway/signing/cosign.key",
		"SLIPWAY_SIGNING_KEY_PASSWORD_FILE": pw,
		"SLIPWAY_VERIFY_KEYS":               "/etc/slipway/verify-keys/old.pub,/etc/slipway/verify-keys/new.pub",
	}
	if err := Resolve(fs, "", func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	got := []string{c.SigningKeyFile, c.SigningKeyPassword.Reveal(), c.SigningKeyPassword.String()}
	got = append(got, c.VerifyKeys...)
	want := []string{"/etc/slipway/signing/cosign.key", "s3cret", "[redacted]", "/etc/slipway/verify-keys/old.pub", "/etc/slipway/verify-keys/new.pub"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
