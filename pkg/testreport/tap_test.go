package testreport

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testdata/node18.tap is what Debian's Node 18.20 wrote for a file with a
// passing, a failing and, in a describe(), a passing and a skipped test
// (node --test --test-reporter=tap --test-reporter-destination=FILE).
func TestParseTAPNode18(t *testing.T) {
	f, err := os.Open("testdata/node18.tap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := ParseTAP(f, "node-test")
	if err != nil {
		t.Fatal(err)
	}
	want := []Case{
		{Suite: "node-test", Name: "adds", Status: Passed},
		{Suite: "node-test", Name: "fails", Status: Failed},
		{Suite: "node-test > suite", Name: "nested ok", Status: Passed},
		{Suite: "node-test > suite", Name: "skipped", Status: Skipped},
	}
	if diff := cmp.Diff(want, rep.Cases, cmpopts.IgnoreFields(Case{}, "Output", "Time")); diff != "" {
		t.Errorf("cases (-want +got)\n%s", diff)
	}
	if got := rep.Cases[1].Output; !strings.Contains(got, "error: 'math is broken'") || !strings.Contains(got, "a.test.js:4:30") {
		t.Errorf("the failure's output %q lacks its error and stack", got)
	}
	if rep.Cases[0].Output != "" {
		t.Errorf("a passing test has output %q", rep.Cases[0].Output)
	}
	if got := rep.Cases[0].Time; got < time.Millisecond || got > 2*time.Millisecond {
		t.Errorf("adds took %s, want its duration_ms 1.715651", got)
	}
}

func TestParseTAPShapes(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Case
	}{
		{"nested tests: the parent is a case too", "    ok 1 - inner\n    1..1\nok 1 - outer\n1..1\n",
			[]Case{{Suite: "f", Name: "outer", Status: Passed}, {Suite: "f > outer", Name: "inner", Status: Passed}}},
		{"a failing parent of a suite", "    not ok 1 - leaf\n      ---\n      error: 'x'\n      ...\n    1..1\nnot ok 1 - group\n  ---\n  type: 'suite'\n  ...\n",
			[]Case{{Suite: "f > group", Name: "leaf", Status: Failed, Output: "error: 'x'"}}},
		{"TODO counts as skipped, no number, no dash", "ok # TODO later\nnot ok flaky # SKIP off\nok 3 plain\n",
			[]Case{{Suite: "f", Name: "(unnamed)", Status: Skipped}, {Suite: "f", Name: "flaky", Status: Skipped}, {Suite: "f", Name: "plain", Status: Passed}}},
		{"not TAP", "okay then\nnothing ok here\n# ok 1 - comment\nBail out!\n", nil},
		{"a cut stream keeps what it has", "    ok 1 - orphan\n", []Case{{Suite: "f", Name: "orphan", Status: Passed}}},
		{"CRLF", "ok 1 - windows\r\n", []Case{{Suite: "f", Name: "windows", Status: Passed}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := ParseTAP(strings.NewReader(tc.in), "f")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, rep.Cases, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("cases (-want +got)\n%s", diff)
			}
		})
	}
}

// Bounded: an endless line is cut, a stream past MaxInput is refused.
func TestParseTAPBounds(t *testing.T) {
	long := "ok 1 - " + strings.Repeat("n", 3*maxTAPLine) + "\n"
	rep, err := ParseTAP(strings.NewReader(long), "f")
	if err != nil || len(rep.Cases) != 1 || len(rep.Cases[0].Name) > MaxName {
		t.Errorf("a %d-byte line: %v, %d cases; want one case with its name clipped", len(long), err, len(rep.Cases))
	}
	if _, err := ParseTAP(strings.NewReader(strings.Repeat("ok 1 - x\n", MaxInput/9+1)), "f"); err == nil {
		t.Error("a stream past MaxInput was read")
	}
}

func FuzzParseTAP(f *testing.F) {
	if b, err := os.ReadFile("testdata/node18.tap"); err == nil {
		f.Add(string(b))
	}
	f.Add("    ok 1 - a\n      ---\n      type: 'suite'\n      ...\nnot ok 2 - b # SKIP\n")
	f.Fuzz(func(t *testing.T, in string) {
		rep, err := ParseTAP(strings.NewReader(in), "f")
		if err != nil {
			return
		}
		for _, c := range rep.Cases {
			if !c.Status.Valid() || len(c.Name) > MaxName || len(c.Output) > MaxOutput || c.Time < 0 {
				t.Fatalf("case out of bounds: %+v", c)
			}
		}
	})
}
