package deploy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPrometheusQuery(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    float64
		wantErr string
		noData  bool // errors.Is(err, ErrNoData): inconclusive, not failed
	}{
		{"vector of one", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.25"]}]}}`, 0.25, "", false},
		{"scalar", `{"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"3"]}}`, 3, "", false},
		{"empty vector", `{"status":"success","data":{"resultType":"vector","result":[]}}`, 0, "no data", true},
		{"two series", `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]},{"value":[1,"2"]}]}}`, 0, "2 series", false},
		{"matrix", `{"status":"success","data":{"resultType":"matrix","result":[]}}`, 0, `result type "matrix"`, false},
		{"error", `{"status":"error","errorType":"bad_data","error":"parse error"}`, 0, "bad_data: parse error", false},
		{"not json", `<html>`, 0, "bad_response", false},
		{"NaN", `{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}`, 0, "NaN", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotQuery string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/v1/query" {
					http.NotFound(w, r)
					return
				}
				// The client POSTs the form (GET when refused), as Prometheus accepts.
				gotQuery = r.FormValue("query")
				w.Header().Set("Content-Type", "application/json")
				if strings.Contains(tt.body, `"status":"error"`) {
					w.WriteHeader(http.StatusBadRequest)
				}
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			p, err := NewPrometheus(srv.URL+"/", srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			q := `sum(rate(http_requests_total{code=~"5.."}[1m]))`
			got, err := p.Query(context.Background(), q)
			if gotQuery != q {
				t.Errorf("server saw query %q, want %q", gotQuery, q)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Query = %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				if errors.Is(err, ErrNoData) != tt.noData {
					t.Errorf("errors.Is(%v, ErrNoData) = %v, want %v", err, !tt.noData, tt.noData)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Query = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// No answer is an error too (the canary counts it as inconclusive), never
// a value: a closed port, and a Prometheus that answers 503 while it
// starts or replays its write-ahead log.
func TestPrometheusNoAnswer(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	starting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	}))
	defer starting.Close()
	for name, url := range map[string]string{"closed port": closed.URL, "503": starting.URL} {
		t.Run(name, func(t *testing.T) {
			p, err := NewPrometheus(url, &http.Client{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			v, err := p.Query(context.Background(), "up")
			if err == nil || !strings.Contains(err.Error(), `prometheus query "up"`) {
				t.Fatalf("Query = %v, %v; want an error naming the query", v, err)
			}
		})
	}
}
