package rollout

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func floatPtr(v float64) *float64 { return &v }

func TestParseQuery(t *testing.T) {
	tests := []struct {
		in      string
		want    Query
		wantErr string
	}{
		{in: `errors=sum(rate(http_requests_total{code=~"5.."}[1m]))<=0.05`,
			want: Query{Name: "errors", Query: `sum(rate(http_requests_total{code=~"5.."}[1m]))`, Max: floatPtr(0.05)}},
		{in: "up=min(up{job='shop'}) >= 1", want: Query{Name: "up", Query: "min(up{job='shop'})", Min: floatPtr(1)}},
		{in: "ratio=a >= b <= 2", want: Query{Name: "ratio", Query: "a >= b", Max: floatPtr(2)}},
		{in: "errors=rate(x[1m])<=0.1 failureLimit=2 inconclusiveLimit=3",
			want: Query{Name: "errors", Query: "rate(x[1m])", Max: floatPtr(0.1), FailureLimit: 2, InconclusiveLimit: 3}},
		{in: "errors=x<=0.1  inconclusiveLimit=1", want: Query{Name: "errors", Query: "x", Max: floatPtr(0.1), InconclusiveLimit: 1}},
		{in: "noop=up", wantErr: "want NAME=PROMQL"},
		{in: "=up<=1", wantErr: "want NAME=PROMQL"},
		{in: "x=up<=many", wantErr: "threshold"},
		{in: "x=<=1", wantErr: "want NAME=PROMQL"},
		{in: "x=up<=", wantErr: "no threshold"},
		{in: "x=up<=1 failurelimit=2", wantErr: "unknown option"},
		{in: "x=up<=1 retries", wantErr: "unknown option"},
		{in: "x=up<=1 failureLimit=-1", wantErr: "0 to 1000"},
		{in: "x=up<=1 failureLimit=99999", wantErr: "0 to 1000"},
		{in: "x=up<=1 failureLimit=two", wantErr: "0 to 1000"},
		{in: "x=up<=1 failureLimit=1 failureLimit=2", wantErr: "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseQuery(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseQuery error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseQuery: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseQuery (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"errors=rate(x[1m])<=0.1 failureLimit=2 inconclusiveLimit=3", "up=min(up)>=1", "a=b", "=<=", "x=y<=1 failureLimit="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			return
		}
		if q.Name == "" || q.Query == "" || (q.Min == nil) == (q.Max == nil) {
			t.Fatalf("ParseQuery(%q) = %+v: accepted without a name, query or exactly one bound", s, q)
		}
		if q.FailureLimit < 0 || q.InconclusiveLimit < 0 {
			t.Fatalf("ParseQuery(%q) = %+v: negative limit", s, q)
		}
	})
}
