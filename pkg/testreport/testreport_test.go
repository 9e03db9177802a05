package testreport

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run make update-golden)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// outputs are compared by their start: stack traces carry paths.
var ignoreOutput = cmpopts.IgnoreFields(Case{}, "Output")

func TestParseJUnit(t *testing.T) {
	tests := []struct {
		file       string
		want       []Case
		wantOutput map[string]string // test name → substring of its output
	}{{
		file: "surefire.xml",
		want: []Case{
			{Suite: "com.example.AppTest", Name: "adds", Status: Passed, Time: 12 * time.Millisecond},
			{Suite: "com.example.AppTest", Name: "divides", Status: Failed, Time: 1001500 * time.Millisecond},
			{Suite: "com.example.AppTest", Name: "later", Status: Skipped},
		},
		wantOutput: map[string]string{"divides": "java.lang.ArithmeticException: / by zero\n\tat com.example.App.divide(App.java:9)\ndividing 1 by 0", "later": "not yet"},
	}, {
		file: "pytest.xml",
		want: []Case{
			{Suite: "tests.test_app", Name: "test_ok", Status: Passed, Time: time.Millisecond},
			{Suite: "tests.test_app", Name: "test_bad", Status: Failed, Time: 2 * time.Millisecond},
		},
		wantOutput: map[string]string{"test_bad": "tests/test_app.py:5: AssertionError"},
	}, {
		// Real output of node --test --test-reporter=junit (Node 20.20).
		file: "node.xml",
		want: []Case{
			{Suite: "test", Name: "adds", Status: Passed, Time: 5 * time.Millisecond},
			{Suite: "test", Name: "subtracts", Status: Failed, Time: 3 * time.Millisecond},
			{Suite: "test", Name: "top level", Status: Skipped},
		},
		wantOutput: map[string]string{"subtracts": "1 !== 2"},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseJUnit(open(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Cases, ignoreOutput); diff != "" {
				t.Errorf("cases (-want +got):\n%s", diff)
			}
			for _, c := range got.Cases {
				if w := tt.wantOutput[c.Name]; !strings.Contains(c.Output, w) {
					t.Errorf("%s output = %q, want it to contain %q", c.Name, c.Output, w)
				}
				if c.Status == Passed && c.Output != "" {
					t.Errorf("%s passed but keeps output %q", c.Name, c.Output)
				}
			}
		})
	}
}

func TestParseJUnitBad(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no <testsuites> or <testsuite>"},
		{"not xml", "PASS ok 1.2s", "no <testsuites> or <testsuite>"},
		{"other root", `<project><testcase name="x"/></project>`, "root element <project>"},
		{"unclosed", `<testsuite><testcase name="x">`, "reading JUnit XML"},
		{"bad entity", `<testsuite><testcase name="&nope;"/></testsuite>`, "reading JUnit XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJUnit(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseJUnitBounds(t *testing.T) {
	t.Run("over MaxInput", func(t *testing.T) {
		big := strings.NewReader("<testsuite>" + strings.Repeat(" ", MaxInput) + "</testsuite>")
		if _, err := ParseJUnit(big); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("cases, names and outputs", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("<testsuite>")
		long := strings.Repeat("é", MaxName)
		b.WriteString(`<testcase name="` + long + `"><failure>` + strings.Repeat("x", 2*MaxOutput) + "END</failure></testcase>")
		for range MaxCases {
			b.WriteString(`<testcase name="t"/>`)
		}
		b.WriteString("</testsuite>")
		got, err := ParseJUnit(strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Cases) != MaxCases || !got.Truncated {
			t.Errorf("%d cases, truncated %v; want %d, true", len(got.Cases), got.Truncated, MaxCases)
		}
		c := got.Cases[0]
		if len(c.Name) > MaxName || !strings.HasSuffix(c.Name, "…") {
			t.Errorf("name of %d bytes, want at most %d ending in …", len(c.Name), MaxName)
		}
		if len(c.Output) > MaxOutput || !strings.HasSuffix(c.Output, "END") || !strings.HasPrefix(c.Output, "…") {
			t.Errorf("output of %d bytes, want its tail in at most %d", len(c.Output), MaxOutput)
		}
	})
}

func TestConvertGoTest(t *testing.T) {
	// testdata/gotest.json is real `go test -json ./... 2>&1` (Go 1.26) of
	// a module with a failing subtest, a skipped test, a package that does
	// not build and one without tests.
	var text bytes.Buffer
	got, err := ConvertGoTest(open(t, "gotest.json"), &text)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Failed {
		t.Error("Failed = false for a failing run")
	}
	want := []Case{
		{Suite: "example.com/hello/broken", Name: "(package)", Status: Failed},
		{Suite: "example.com/hello", Name: "TestGreet", Status: Passed},
		{Suite: "example.com/hello", Name: "TestAnswer", Status: Failed},
		{Suite: "example.com/hello", Name: "TestAnswer/sub", Status: Failed},
		{Suite: "example.com/hello", Name: "TestLater", Status: Skipped},
	}
	if diff := cmp.Diff(want, got.Report.Cases, ignoreOutput); diff != "" {
		t.Errorf("cases (-want +got):\n%s", diff)
	}
	outs := map[string]string{}
	for _, c := range got.Report.Cases {
		outs[c.Name] = c.Output
	}
	if w := "hello_test.go:8: answer = 41, want 42"; !strings.Contains(outs["TestAnswer/sub"], w) {
		t.Errorf("TestAnswer/sub output = %q, want %q in it", outs["TestAnswer/sub"], w)
	}
	if w := "syntax error"; !strings.Contains(outs["(package)"], w) {
		t.Errorf("build failure output = %q, want %q in it", outs["(package)"], w)
	}
	golden(t, "gotest.txt", text.Bytes())

	var x bytes.Buffer
	if err := WriteJUnit(&x, got.Report); err != nil {
		t.Fatal(err)
	}
	golden(t, "gotest.junit.xml", x.Bytes())
	// What Slipway writes, Slipway reads back the same.
	back, err := ParseJUnit(&x)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got.Report.Counts(), back.Counts()); diff != "" {
		t.Errorf("counts after a JUnit round trip (-want +got):\n%s", diff)
	}
}

func TestConvertGoTestVerdict(t *testing.T) {
	pass := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.5}
{"Action":"pass","Package":"p","Elapsed":0.6}
`
	tests := []struct {
		name       string
		in         string
		wantFailed bool
		want       []Case
	}{
		{"passing", pass, false, []Case{{Suite: "p", Name: "TestA", Status: Passed, Time: 500 * time.Millisecond}}},
		{"no events (go failed before testing)", "go: cannot find main module\n", true, nil},
		{"empty", "", true, nil},
		{"test never finished (panic, timeout)", `{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"panic: boom\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}
{"Action":"fail","Package":"p","Elapsed":0.1}
`, true, []Case{{Suite: "p", Name: "TestB", Status: Failed, Output: "panic: boom"}}},
		{"package fails without a test (TestMain)", `{"Action":"output","Package":"p","Output":"TestMain exited 3\n"}
{"Action":"fail","Package":"p","Elapsed":0.1}
`, true, []Case{{Suite: "p", Name: "(package)", Status: Failed, Time: 100 * time.Millisecond, Output: "TestMain exited 3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConvertGoTest(strings.NewReader(tt.in), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Failed != tt.wantFailed {
				t.Errorf("Failed = %v, want %v", got.Failed, tt.wantFailed)
			}
			if diff := cmp.Diff(tt.want, got.Report.Cases, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("cases (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummaryRoundTrip(t *testing.T) {
	rep := &Report{Cases: []Case{
		{Suite: "p", Name: "TestOK", Status: Passed, Time: time.Second},
		{Suite: "p", Name: "TestBad", Status: Failed, Output: "want 42"},
		{Suite: "p", Name: "TestSkip", Status: Skipped},
	}}
	var log bytes.Buffer
	log.WriteString("collected 3 tests\n")
	if err := WriteSummary(&log, rep); err != nil {
		t.Fatal(err)
	}
	log.WriteString("exit 1\n")
	got, err := ReadSummary(log.String())
	if err != nil {
		t.Fatal(err)
	}
	want := &Report{Cases: []Case{rep.Cases[1], rep.Cases[2], rep.Cases[0]}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSummaryBudget(t *testing.T) {
	rep := &Report{}
	out := strings.Repeat("x", 2*summaryOutput)
	for i := range 2000 {
		rep.Cases = append(rep.Cases, Case{Suite: "s", Name: strings.Repeat("n", 100) + string(rune('a'+i%26)), Status: Passed})
	}
	for range 100 {
		rep.Cases = append(rep.Cases, Case{Suite: "s", Name: "failing", Status: Failed, Output: out})
	}
	var b bytes.Buffer
	if err := WriteSummary(&b, rep); err != nil {
		t.Fatal(err)
	}
	if b.Len() > MaxSummary {
		t.Fatalf("summary of %d bytes, want at most %d", b.Len(), MaxSummary)
	}
	got, err := ReadSummary(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Truncated {
		t.Error("Truncated = false for a report over the budget")
	}
	// The failures are what must survive the cut.
	if c := got.Counts(); c.Failed != 100 || c.Passed == 0 || c.Passed == 2000 {
		t.Errorf("counts %+v: want all 100 failures and some, not all, passes", c)
	}
}

func TestReadSummaryBad(t *testing.T) {
	tests := []struct {
		name, log string
		want      string
	}{
		{"no marker", "just a log\n", ErrNoReport.Error()},
		{"cut json", summaryMarker + `{"cases":[{"suite":"p"`, "reading the test report summary"},
		{"bad status", summaryMarker + `{"cases":[{"suite":"p","name":"T","status":"exploded"}]}`, `status "exploded"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadSummary(tt.log)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q in it", err, tt.want)
			}
		})
	}
}

func TestGather(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fsys := fstest.MapFS{
		"reports/pytest.xml":    {Data: read("pytest.xml")},
		"reports/node-test.tap": {Data: read("node18.tap")},
		"reports/broken.xml":    {Data: []byte("<html>")},
		"reports/notes.txt":     {Data: []byte("ignored")},
		"svc/target/surefire-reports/TEST-com.example.AppTest.xml": {Data: read("surefire.xml")},
		"svc/target/surefire-reports/com.example.AppTest.txt":      {Data: []byte("ignored")},
		"lib/build/test-results/test/TEST-Lib.xml":                 {Data: read("node.xml")},
		"node_modules/x/target/surefire-reports/TEST-x.xml":        {Data: []byte("<html>")},
		"docs/TEST-plan.xml": {Data: []byte("<html>")},
	}
	rep, files, problems := Gather(fsys, "reports", "missing")
	wantFiles := []string{"reports/pytest.xml", "reports/node-test.tap", "lib/build/test-results/test/TEST-Lib.xml", "svc/target/surefire-reports/TEST-com.example.AppTest.xml"}
	if diff := cmp.Diff(wantFiles, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "reports/broken.xml") {
		t.Errorf("problems = %v, want one naming reports/broken.xml", problems)
	}
	if diff := cmp.Diff(Counts{Total: 12, Passed: 5, Failed: 4, Skipped: 3}, rep.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func TestFlakySHAs(t *testing.T) {
	tests := []struct {
		name    string
		history []Outcome
		want    []string
	}{
		{"none", nil, nil},
		{"always passes", []Outcome{{SHA: "a", Status: Passed}, {SHA: "a", Status: Passed}}, nil},
		{"broken then fixed on another commit", []Outcome{{SHA: "a", Status: Failed}, {SHA: "b", Status: Passed}}, nil},
		{"passed and failed on one commit", []Outcome{{SHA: "b", Status: Passed}, {SHA: "a", Status: Failed}, {SHA: "b", Status: Failed}, {SHA: "a", Status: Passed}, {SHA: "c", Status: Failed}}, []string{"a", "b"}},
		{"skipped is no verdict", []Outcome{{SHA: "a", Status: Skipped}, {SHA: "a", Status: Failed}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, FlakySHAs(tt.history)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
