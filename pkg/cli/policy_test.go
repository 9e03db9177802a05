package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/policy"
	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/sbom"
	"github.com/slipway-ci/slipway/pkg/sbom/sbomtest"
)

// pushSBOMImage pushes an index whose SBOM lists pkgs and returns its ref.
func pushSBOMImage(t *testing.T, tag string, pkgs ...sbomtest.Package) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	image := strings.TrimPrefix(srv.URL, "http://") + "/team/app:" + tag
	ref, err := name.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := sbomtest.Index(pkgs...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	return image
}

func runCmd(t *testing.T, cmd *cobra.Command, args ...string) (stdout string, code int, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case err != nil:
		code = 1
	}
	return out.String(), code, err
}

var (
	vulnDep  = sbomtest.Package{Name: "example.com/slipway-vuln", Version: "v1.0.0", PURL: "pkg:golang/example.com/slipway-vuln@v1.0.0", License: "MIT"}
	fixedDep = sbomtest.Package{Name: "example.com/slipway-vuln", Version: "v1.2.0", PURL: "pkg:golang/example.com/slipway-vuln@v1.2.0", License: "MIT"}
	agplDep  = sbomtest.Package{Name: "example.com/agpl", Version: "v0.3.0", PURL: "pkg:golang/example.com/agpl@v0.3.0", License: "AGPL-3.0-only"}
)

func TestSBOMCmd(t *testing.T) {
	image := pushSBOMImage(t, "1", vulnDep, agplDep)
	out, code, err := runCmd(t, NewSBOMCmd(), image, "--insecure")
	if err != nil {
		t.Fatalf("code %d: %v", code, err)
	}
	for _, want := range []string{"ECOSYSTEM", "example.com/slipway-vuln", "v1.0.0", "pkg:golang/example.com/agpl@v0.3.0", "AGPL-3.0-only"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCmd(t, NewSBOMCmd(), image, "--insecure", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got []sbom.Package
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	want := []sbom.Package{
		{Ecosystem: "Go", Name: "example.com/agpl", Version: "v0.3.0", PURL: "pkg:golang/example.com/agpl@v0.3.0", License: "AGPL-3.0-only"},
		{Ecosystem: "Go", Name: "example.com/slipway-vuln", Version: "v1.0.0", PURL: "pkg:golang/example.com/slipway-vuln@v1.0.0", License: "MIT"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, code, _ := runCmd(t, NewSBOMCmd(), image, "-o", "yaml"); code != 2 {
		t.Errorf("bad -o: code %d, want 2", code)
	}
}

func TestPolicyCheckCmd(t *testing.T) {
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(`
default:
  maxSeverity: high
  denyLicenses: [AGPL-3.0-only]
teams:
  lab:
    apps:
      toy:
        ignoreAdvisories: [{id: CVE-2026-99901, reason: test only}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	badPolicy := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badPolicy, []byte("default:\n  maxSeverty: high\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sbomFile := filepath.Join(dir, "sbom.spdx.json")
	doc, err := json.Marshal(sbomtest.Statement(v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}, vulnDep)["predicate"])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sbomFile, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	feed := "../advisory/testdata/feed"
	vulnerable := pushSBOMImage(t, "vuln", vulnDep)
	clean := pushSBOMImage(t, "clean", fixedDep)
	licensed := pushSBOMImage(t, "agpl", fixedDep, agplDep)
	provenanceOnly := strings.Replace(licensed, ":agpl", ":prov", 1)
	provRef, err := name.ParseReference(provenanceOnly)
	if err != nil {
		t.Fatal(err)
	}
	provIdx, err := provenancetest.Index("https://git.example/a.git", strings.Repeat("a", 40), "https://slipway.dev/builder/buildkit")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(provRef, provIdx); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		{"advisory fails the check", []string{vulnerable, "--insecure", "--policy", policyFile, "--advisories", feed}, 1,
			[]string{"example.com/slipway-vuln", "v1.0.0", "advisory", "SLIPWAY-2026-0001", "CRITICAL", "1.2.0"}, "1 violation(s)"},
		{"the bumped dependency passes", []string{clean, "--insecure", "--policy", policyFile, "--advisories", feed}, 0,
			[]string{"dependency policy OK (1 packages)"}, ""},
		{"denied license", []string{licensed, "--insecure", "--policy", policyFile, "--advisories", feed}, 1,
			[]string{"example.com/agpl", "denied-license", "AGPL-3.0-only"}, "1 violation(s)"},
		{"an app's ignore", []string{vulnerable, "--insecure", "--policy", policyFile, "--advisories", feed, "--team", "lab", "--app", "toy"}, 0,
			[]string{"ignored", "SLIPWAY-2026-0001", "test only", "dependency policy OK"}, ""},
		{"default policy without a feed", []string{vulnerable, "--insecure"}, 0, []string{"dependency policy OK"}, ""},
		{"invalid policy", []string{vulnerable, "--insecure", "--policy", badPolicy}, 2, nil, `unknown field "maxSeverty"`},
		{"no image", []string{"--policy", policyFile}, 2, nil, "give either IMAGE or --sbom FILE"},
		{"image and --sbom", []string{vulnerable, "--sbom", sbomFile}, 2, nil, "give either IMAGE or --sbom FILE"},
		{"local SBOM file", []string{"--sbom", sbomFile, "--policy", policyFile, "--advisories", feed}, 1,
			[]string{"SLIPWAY-2026-0001", "1.2.0"}, "1 violation(s)"},
		{"missing feed", []string{vulnerable, "--insecure", "--advisories", filepath.Join(dir, "none")}, 3, nil, "reading advisory feed"},
		{"image without SBOM", []string{pushSBOMImage(t, "none"), "--insecure"}, 0, []string{"dependency policy OK (0 packages)"}, ""},
		{"image with provenance only", []string{provenanceOnly, "--insecure"}, 3, nil, "no SPDX SBOM layer"},
		{"unreadable SBOM file", []string{"--sbom", badPolicy}, 3, nil, "neither an SPDX statement"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
			cmd := &cobra.Command{Use: "policy"}
			cmd.AddCommand(newPolicyCheckCmd(clk))
			out, code, err := runCmd(t, cmd, append([]string{"check"}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d (err %v), want %d\n%s", code, err, tc.wantCode, out)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestPolicyCheckJSON(t *testing.T) {
	image := pushSBOMImage(t, "vuln", vulnDep)
	cmd := &cobra.Command{Use: "policy"}
	cmd.AddCommand(newPolicyCheckCmd(clocktesting.NewFakePassiveClock(time.Now())))
	out, code, _ := runCmd(t, cmd, "check", image, "--insecure", "--advisories", "../advisory/testdata/feed", "-o", "json")
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	var got policy.Result
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := policy.Result{Violations: []policy.Violation{{
		Package: sbom.Package{Ecosystem: "Go", Name: "example.com/slipway-vuln", Version: "v1.0.0", PURL: "pkg:golang/example.com/slipway-vuln@v1.0.0", License: "MIT"},
		Rule:    policy.RuleAdvisory, ID: "SLIPWAY-2026-0001", Aliases: []string{"CVE-2026-99901"}, Severity: "CRITICAL", Fixed: "1.2.0",
		Detail: "Test advisory: path traversal in example.com/slipway-vuln",
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// The CI policy step's Task result: written on pass, fail and no policy.
func TestPolicyCheckResultFile(t *testing.T) {
	vulnerable := pushSBOMImage(t, "vuln", vulnDep)
	clean := pushSBOMImage(t, "clean", fixedDep)
	feed := "../advisory/testdata/feed"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     run.PolicyCheck
	}{
		{"violation", []string{vulnerable, "--insecure", "--advisories", feed}, 1, run.PolicyCheck{Outcome: run.PolicyFailed, Packages: 1,
			Violations: []run.PolicyViolation{{Package: "example.com/slipway-vuln", Version: "v1.0.0", Rule: "advisory", ID: "SLIPWAY-2026-0001", Severity: "CRITICAL", Fixed: "1.2.0"}}}},
		{"clean", []string{clean, "--insecure", "--advisories", feed}, 0, run.PolicyCheck{Outcome: run.PolicyPassed, Packages: 1}},
		// No registry is read: the image need not even exist.
		{"no policy", []string{"registry.invalid/app@sha256:" + strings.Repeat("0", 64), "--no-policy"}, 0, run.PolicyCheck{Outcome: run.PolicyNone}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			result := filepath.Join(t.TempDir(), "POLICY")
			cmd := &cobra.Command{Use: "policy"}
			cmd.AddCommand(newPolicyCheckCmd(clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))))
			_, code, err := runCmd(t, cmd, append([]string{"check", "--result", result}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d (err %v), want %d", code, err, tc.wantCode)
			}
			b, err := os.ReadFile(result)
			if err != nil {
				t.Fatal(err)
			}
			var got run.PolicyCheck
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			// The verdict step of tasks/policy.yaml greps for exactly this.
			if failed := strings.Contains(string(b), `"outcome":"failed"`); failed != (tc.want.Outcome == run.PolicyFailed) {
				t.Errorf("result %s: the verdict step would read failed=%v", b, failed)
			}
		})
	}
	cmd := &cobra.Command{Use: "policy"}
	cmd.AddCommand(newPolicyCheckCmd(clocktesting.NewFakePassiveClock(time.Now())))
	if _, code, _ := runCmd(t, cmd, "check", vulnerable, "--no-policy", "--policy", "x.yaml"); code != 2 {
		t.Errorf("--no-policy with --policy: code %d, want 2", code)
	}
}
