package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGreet(t *testing.T) {
	for _, tt := range []struct{ query, want string }{
		{"", "hello, world\n"},
		{"?name=slipway", "hello, slipway\n"},
	} {
		rec := httptest.NewRecorder()
		newServer(0).greet(rec, httptest.NewRequest("GET", "/"+tt.query, nil))
		if got := rec.Body.String(); got != tt.want {
			t.Errorf("GET /%s = %q, want %q", tt.query, got, tt.want)
		}
	}
}

// FAIL_PERCENT fails exactly that share of greetings, never the probes,
// and /metrics counts what was answered.
func TestFailPercent(t *testing.T) {
	for _, p := range []int{0, 20, 100} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			h := newServer(p).handler()
			failed := 0
			for i := 0; i < 100; i++ {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
				if rec.Code == http.StatusInternalServerError {
					failed++
				}
				for _, probe := range []string{"/healthz", "/ready"} {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest("GET", probe, nil))
					if rec.Code != http.StatusOK {
						t.Fatalf("GET %s = %d with FAIL_PERCENT=%d, want 200", probe, rec.Code, p)
					}
				}
			}
			if failed != p {
				t.Errorf("%d of 100 greetings failed, want %d", failed, p)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			for _, want := range []string{
				"# TYPE http_requests_total counter\n",
				fmt.Sprintf("http_requests_total{code=\"200\"} %d\n", 100-p),
				fmt.Sprintf("http_requests_total{code=\"500\"} %d\n", p),
			} {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("/metrics lacks %q:\n%s", want, rec.Body.String())
				}
			}
		})
	}
}

func TestParseFailPercent(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		bad  bool
	}{
		{in: "", want: 0}, {in: "0", want: 0}, {in: "20", want: 20}, {in: "100", want: 100},
		{in: "-1", bad: true}, {in: "101", bad: true}, {in: "20%", bad: true}, {in: "0.5", bad: true},
	} {
		got, err := parseFailPercent(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseFailPercent(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}
