package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/slipway-ci/slipway/pkg/dockerfile"
)

func TestLoadLanguages(t *testing.T) {
	write := func(name, content string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stack := "languages:\n  node: {default: \"18\", versions: [\"18\"]}\n"
	tests := []struct {
		name     string
		file     string // the --config file
		langFile string
		wantNode *dockerfile.Offer
		wantErr  string
	}{
		{name: "no section: the defaults", file: "addr: :9000\n"},
		{name: "section in the config file", file: "addr: :9000\n" + stack,
			wantNode: &dockerfile.Offer{Default: "18", Versions: []string{"18"}, BuildImage: "node:{{ .Version }}", RuntimeImage: "node:{{ .Version }}"}},
		{name: "languages-file", langFile: stack,
			wantNode: &dockerfile.Offer{Default: "18", Versions: []string{"18"}, BuildImage: "node:{{ .Version }}", RuntimeImage: "node:{{ .Version }}"}},
		{name: "both", file: stack, langFile: stack, wantErr: "keep one"},
		{name: "invalid", file: "languages:\n  node: {default: \"20\", versions: [\"18\"]}\n", wantErr: "default version 20 is not among the offered versions 18"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			c := Bind(fs)
			path := ""
			if tt.file != "" {
				path = write("config.yaml", tt.file)
			}
			if tt.langFile != "" {
				if err := fs.Set("languages-file", write("languages.yaml", tt.langFile)); err != nil {
					t.Fatal(err)
				}
			}
			// The languages key is not a flag, and must not be refused as unknown.
			if err := Resolve(fs, path, func(string) (string, bool) { return "", false }); err != nil {
				t.Fatal(err)
			}
			err := c.LoadLanguages(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNode == nil {
				if c.Languages != nil {
					t.Errorf("Languages = %v, want nil (the defaults)", c.Languages)
				}
				return
			}
			if diff := cmp.Diff(*tt.wantNode, c.Languages["node"]); diff != "" {
				t.Errorf("node (-want +got)\n%s", diff)
			}
		})
	}
}

func TestMirrorSettingsValidated(t *testing.T) {
	c, err := load(t, []string{"--goproxy", "http://a b"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "GOPROXY") {
		t.Fatalf("Validate = %v, want the GOPROXY value refused", err)
	}
}
