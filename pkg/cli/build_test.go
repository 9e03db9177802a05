package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/tasks"
)

func TestParseCreated(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "1763780400", want: time.Unix(1763780400, 0).UTC()},
		{in: "2026-11-22T03:00:00+01:00", want: time.Date(2026, 11, 22, 3, 0, 0, 0, time.FixedZone("", 3600))},
		{in: "yesterday", wantErr: true},
		{in: "2026-11-22", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseCreated(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseCreated(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if !got.Equal(tc.want) {
				t.Errorf("parseCreated(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// Bad flags fail before any connection to a daemon is attempted.
func TestBuildCmdRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no daemon address", []string{"--addr="}, "--addr or BUILDKIT_HOST is required"},
		{"build arg without value", []string{"--addr=tcp://127.0.0.1:1", "--build-arg", "GO_VERSION"}, `--build-arg "GO_VERSION": want KEY=VALUE`},
		{"bad created", []string{"--addr=tcp://127.0.0.1:1", "--created", "soon"}, `--created "soon"`},
		{"TLS on a unix socket", []string{"--addr=unix:///run/buildkitd.sock", "--tls-dir", "/nonexistent"}, "TLS needs a tcp:// address"},
		{"TLS files missing", []string{"--addr=tcp://127.0.0.1:1", "--tls-dir", "/nonexistent"}, "buildkit client certificate in /nonexistent"},
		{"positional args", []string{"--addr=tcp://127.0.0.1:1", "extra"}, `unknown command "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := NewBuildCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tc.args)
			err := cmd.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Every flag the build-push Task passes must exist, so a renamed flag fails
// here rather than in a pipeline.
func TestBuildPushTaskUsesExistingFlags(t *testing.T) {
	data, err := tasks.FS.ReadFile("build-push.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var task struct {
		Spec struct {
			Steps []struct {
				Script string `json:"script"`
			} `json:"steps"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &task); err != nil {
		t.Fatal(err)
	}
	flags := NewBuildCmd().Flags()
	var used []string
	for _, st := range task.Spec.Steps {
		for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z-]+)`).FindAllStringSubmatch(st.Script, -1) {
			used = append(used, m[1])
			if flags.Lookup(m[1]) == nil {
				t.Errorf("build-push.yaml passes --%s, which slipway build does not have", m[1])
			}
		}
	}
	want := []string{"tls-dir", "context", "file", "image", "tag", "source", "revision", "created", "insecure", "builder-id", "cache-ref", "cache-from", "run", "sbom-generator", "result-image-url", "result-image-digest"}
	if diff := cmp.Diff(want, used); diff != "" {
		t.Errorf("flags the task passes (-want +got):\n%s", diff)
	}
}
