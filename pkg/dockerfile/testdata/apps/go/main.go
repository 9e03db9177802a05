// Command hello serves a greeting over HTTP on $PORT (default 8080).
//
// FAIL_PERCENT (a whole number from 0 to 100, default 0) makes exactly that
// share of greetings answer 500, to try a canary's analysis on an image
// that fails some requests. /healthz and /ready always answer, so such an
// image still passes its probes. /metrics counts the greetings by status
// code in Prometheus' text format (written by hand: the sample has no
// dependencies to download).
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
)

// server greets, failing failPercent of the greetings, and counts them.
type server struct {
	failPercent int

	mu    sync.Mutex
	n     int         // greetings so far
	codes map[int]int // greetings by status code
}

func newServer(failPercent int) *server {
	// Both codes from the start: an error ratio is then 0, not "no data",
	// before the first error.
	return &server{failPercent: failPercent, codes: map[int]int{http.StatusOK: 0, http.StatusInternalServerError: 0}}
}

func (s *server) greet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.n++
	// Exactly failPercent of every 100 consecutive greetings fail, spread
	// evenly: the nth fails when n*p/100 steps up.
	fail := s.n*s.failPercent/100 != (s.n-1)*s.failPercent/100
	code := http.StatusOK
	if fail {
		code = http.StatusInternalServerError
	}
	s.codes[code]++
	s.mu.Unlock()
	if fail {
		http.Error(w, "failing on purpose (FAIL_PERCENT)", code)
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "world"
	}
	fmt.Fprintf(w, "hello, %s\n", name)
}

func (s *server) metrics(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	ok, failed := s.codes[http.StatusOK], s.codes[http.StatusInternalServerError]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	fmt.Fprintf(w, "# HELP http_requests_total Greetings answered, by HTTP status code.\n"+
		"# TYPE http_requests_total counter\n"+
		"http_requests_total{code=\"200\"} %d\n"+
		"http_requests_total{code=\"500\"} %d\n", ok, failed)
}

func healthy(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.greet)
	mux.HandleFunc("/metrics", s.metrics)
	mux.HandleFunc("/healthz", healthy)
	mux.HandleFunc("/ready", healthy)
	return mux
}

// parseFailPercent reads FAIL_PERCENT's value ("" is 0).
func parseFailPercent(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > 100 {
		return 0, fmt.Errorf("FAIL_PERCENT=%q: want a whole number from 0 to 100", v)
	}
	return p, nil
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	p, err := parseFailPercent(os.Getenv("FAIL_PERCENT"))
	if err != nil {
		log.Fatal(err)
	}
	if p > 0 {
		log.Printf("FAIL_PERCENT=%d: %d%% of greetings answer 500", p, p)
	}
	log.Fatal(http.ListenAndServe(":"+port, newServer(p).handler()))
}
