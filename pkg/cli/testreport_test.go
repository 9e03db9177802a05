package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/testreport"
	"github.com/slipway-ci/slipway/tasks"
)

func runTestReport(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := NewTestReportCmd()
	var out bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestTestReportGoThenCollect(t *testing.T) {
	in, err := os.ReadFile("../testreport/testdata/gotest.json")
	if err != nil {
		t.Fatal(err)
	}
	reports := t.TempDir()
	text, err := runTestReport(t, string(in), "go", filepath.Join(reports, "go-test.xml"))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("err = %v, want exit code 1 for failing tests", err)
	}
	if !strings.Contains(text, "hello_test.go:8: answer = 41, want 42") {
		t.Errorf("the step log misses the test's output:\n%s", text)
	}

	exit := filepath.Join(t.TempDir(), "exitCode")
	if err := os.WriteFile(exit, []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := runTestReport(t, "", "collect", "--dir", reports, "--dir", "/nonexistent", "--exit-code-file", exit, t.TempDir())
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("err = %v, want the test step's exit code 1", err)
	}
	if !strings.Contains(log, "FAIL example.com/hello TestAnswer/sub") {
		t.Errorf("collect does not list the failure:\n%s", log)
	}
	rep, err := testreport.ReadSummary(log)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testreport.Counts{Total: 5, Passed: 1, Failed: 3, Skipped: 1}, rep.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func TestTestReportCollectBadExitCode(t *testing.T) {
	exit := filepath.Join(t.TempDir(), "exitCode")
	if err := os.WriteFile(exit, []byte("boom"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runTestReport(t, "", "collect", "--exit-code-file", exit, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `holds "boom"`) {
		t.Fatalf("err = %v, want a clear error about the exit code file", err)
	}
}

// The unit-test Task calls flags `slipway test-report collect` has.
func TestUnitTestTaskUsesExistingFlags(t *testing.T) {
	data, err := tasks.FS.ReadFile("unit-test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	script := string(data)
	i := strings.Index(script, "slipway test-report collect")
	if i < 0 {
		t.Fatal("unit-test.yaml does not run slipway test-report collect")
	}
	line := script[i:]
	line = line[:strings.IndexByte(line, '\n')]
	flags := newTestReportCollectCmd().Flags()
	var used []string
	for _, m := range regexp.MustCompile(`--([a-z-]+)`).FindAllStringSubmatch(line, -1) {
		used = append(used, m[1])
		if flags.Lookup(m[1]) == nil {
			t.Errorf("unit-test.yaml passes --%s, which slipway test-report collect does not have", m[1])
		}
	}
	if diff := cmp.Diff([]string{"dir", "exit-code-file"}, used); diff != "" {
		t.Errorf("flags the task passes (-want +got):\n%s", diff)
	}
}
