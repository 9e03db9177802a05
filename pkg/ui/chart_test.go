package ui

import (
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestChartGolden(t *testing.T) {
	month := make([]Bar, 30)
	for i := range month {
		month[i] = Bar{Label: "d" + itoa(i+1), Value: float64(i % 4)}
	}
	tests := []struct {
		name, title, unit string
		integers          bool
		bars              []Bar
	}{
		{"daily", "Deployments per day, hello in prod", "", true, []Bar{{"Mar 1", 1}, {"Mar 2", 0}, {"Mar 3", 1}, {"Mar 4", 0}, {"Mar 5", 3}, {"Mar 6", 0}, {"Mar 7", 0}}},
		{"lead-times", "Lead time per deployment, hello in prod", " h", false, []Bar{{"c1a2b3c4", 2}, {"d5e6f7a8", 2}, {"b9c0d1e2", 3.25}}},
		{"empty", "Time to restore per failure, hello in qa", " h", false, nil},
		{"month", "Deployments per day, shop in qa", "", true, month},
		{"escaped", `Lead time, <script>alert("x")</script> & co`, " h", false, []Bar{{`<img src=x onerror=alert(1)>`, 0.5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(barChart(tt.title, tt.unit, tt.integers, tt.bars))
			// Well-formed XML: the browser parses inline SVG as such.
			d := xml.NewDecoder(strings.NewReader(got))
			for {
				_, err := d.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed SVG: %v\n%s", err, got)
				}
			}
			if strings.Contains(got, "<script") || strings.Contains(got, "<img") || strings.Contains(got, "style=") {
				t.Errorf("chart carries markup it should have escaped, or a style attribute the CSP refuses:\n%s", got)
			}
			path := filepath.Join("testdata", "chart-"+tt.name+".svg.golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run make update-golden)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct {
		in       float64
		integers bool
		want     float64
	}{
		{0, true, 4}, {1, true, 4}, {3, true, 4}, {4, true, 4}, {4.5, true, 8}, {7, true, 8}, {9, true, 20}, {11, true, 20},
		{23, true, 40}, {170, true, 200}, {90, true, 100},
		{0, false, 4}, {1, false, 1}, {0.3, false, 0.4}, {3.25, false, 4}, {9, false, 10}, {11, false, 20}, {170, false, 200},
	} {
		if got := niceCeil(tt.in, tt.integers); got != tt.want {
			t.Errorf("niceCeil(%v, integers %v) = %v, want %v", tt.in, tt.integers, got, tt.want)
		}
	}
}
