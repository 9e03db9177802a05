package testreport

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func seeds(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseJUnit: any input is a report or an error, never a panic, and a
// report stays within its bounds.
func FuzzParseJUnit(f *testing.F) {
	seeds(f, "surefire.xml", "pytest.xml", "node.xml")
	f.Add([]byte(`<testsuites><testsuite name="a"><testsuite name="b"><testcase name="c"><failure/></testcase></testsuite></testsuite></testsuites>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseJUnit(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		checkBounds(t, rep)
	})
}

// FuzzConvertGoTest: any stream converts without a panic, within bounds.
func FuzzConvertGoTest(f *testing.F) {
	seeds(f, "gotest.json")
	f.Add([]byte(`{"Action":"fail","Package":"p","Test":"\u0000"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := ConvertGoTest(strings.NewReader(string(data)), io.Discard)
		if err != nil {
			return
		}
		checkBounds(t, res.Report)
	})
}

// FuzzReadSummary: what the server reads from a step log is bounded too.
func FuzzReadSummary(f *testing.F) {
	f.Add(summaryMarker + `{"cases":[{"suite":"p","name":"T","status":"failed","output":"x"}]}`)
	f.Fuzz(func(t *testing.T, log string) {
		rep, err := ReadSummary(log)
		if err != nil {
			return
		}
		checkBounds(t, rep)
	})
}

func checkBounds(t *testing.T, rep *Report) {
	t.Helper()
	if len(rep.Cases) > MaxCases {
		t.Fatalf("%d cases", len(rep.Cases))
	}
	for _, c := range rep.Cases {
		if !c.Status.Valid() || len(c.Name) > MaxName || len(c.Suite) > MaxName || len(c.Output) > MaxOutput || strings.ContainsRune(c.Output, 0) {
			t.Fatalf("case out of bounds: %+v", c)
		}
	}
}
