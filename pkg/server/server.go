// Package server is `slipway serve`: New assembles the service from its
// configuration (store, clients, the shared Tekton informers, webhooks,
// API, UI, dispatcher, reporter, notifier, promotions, installer, pruner)
// and Run serves the HTTP front (webhooks, API, health, metrics) beside the
// background components, with an orderly shutdown that loses nothing that
// was accepted.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/logging"
)

// Component is a long-running part of the server, e.g. the dispatcher.
// Run returns when ctx is done, after handing back or finishing its work.
type Component interface {
	Run(ctx context.Context) error
}

// Check reports whether a dependency is reachable; nil means healthy.
type Check func(ctx context.Context) error

// Degraded marks a check's error as one that does not make the service
// unready: /readyz names it ("degraded: ...") but still answers 200. A
// missing language base image fails the builds that need it; taking the
// webhook intake out of the Service for it would lose every other event.
func Degraded(err error) error {
	if err == nil {
		return nil
	}
	return &degraded{err}
}

type degraded struct{ err error }

func (d *degraded) Error() string { return d.err.Error() }
func (d *degraded) Unwrap() error { return d.err }

// Server is the assembled service.
type Server struct {
	// Echo has the routes already registered (webhooks, API, UI).
	Echo *echo.Echo
	// Listener, when set, is used instead of listening on Addr (tests).
	Listener net.Listener
	Addr     string
	// Components run beside the HTTP server. Named for logs.
	Components map[string]Component
	// Checks are what /readyz reports on, by name.
	Checks map[string]Check
	// Gatherer backs /metrics.
	Gatherer prometheus.Gatherer
	// ShutdownTimeout bounds how long SIGTERM waits for in-flight work.
	ShutdownTimeout time.Duration
	// DrainDelay is how long, after SIGTERM, /healthz and /readyz answer
	// 503 while the listener still serves, so the Service's endpoints drop
	// this replica before it stops accepting (rolling upgrades refuse no
	// webhook). 0: close at once.
	DrainDelay time.Duration
	// Leading, when set (leader election on), tells /readyz whether this
	// replica runs the leader's loops.
	Leading func() bool
	// Clock times the drain. Default: the real clock.
	Clock clock.Clock

	// closers release what New opened (the informers, the store), in
	// order, once the components have stopped.
	closers []func() error
	log     *slog.Logger // Run's, for what /readyz does not say
	mu      sync.Mutex
	failing map[string]bool // checks failing at the last /readyz, to log changes only
	// draining is set on SIGTERM: health answers 503 from then on.
	draining atomic.Bool
}

// routes adds /healthz, /readyz and /metrics.
func (s *Server) routes() {
	s.Echo.GET("/healthz", func(c echo.Context) error {
		if s.draining.Load() {
			return c.String(http.StatusServiceUnavailable, "shutting down\n")
		}
		return c.String(http.StatusOK, "ok\n")
	})
	s.Echo.GET("/readyz", s.readyz)
	if s.Gatherer != nil {
		s.Echo.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{})))
	}
}

// readyz answers 200 when every check passes or is only degraded, else
// 503. The body names each dependency and "ok", "degraded" or
// "unreachable", nothing more: it is served on
// the public port, and error chains carry internal addresses. Why a check
// fails goes to the log, once each time it starts failing (kubelet polls
// every few seconds). With leader election on, "leader" says "leading" or
// "standby" (either is ready); once SIGTERM came, "shutdown" says
// "draining" and the answer is 503.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	type result struct{ name, status string }
	names := make([]string, 0, len(s.Checks))
	for n := range s.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	results := make([]result, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = result{n, "ok"}
			var d *degraded
			switch err := s.Checks[n](ctx); {
			case errors.As(err, &d):
				// Names and states only: the detail goes to the log.
				results[i].status = "degraded"
				s.noteCheck(n, err)
			case err != nil:
				results[i].status = "unreachable"
				s.noteCheck(n, err)
			default:
				s.noteCheck(n, nil)
			}
		}()
	}
	wg.Wait()
	body := map[string]string{}
	code := http.StatusOK
	for _, r := range results {
		body[r.name] = r.status
		if r.status != "ok" && r.status != "degraded" {
			code = http.StatusServiceUnavailable
		}
	}
	if s.Leading != nil {
		body["leader"] = "standby"
		if s.Leading() {
			body["leader"] = "leading"
		}
	}
	if s.draining.Load() {
		body["shutdown"] = "draining"
		code = http.StatusServiceUnavailable
	}
	return c.JSON(code, body)
}

// noteCheck logs a check that starts failing, with why, and one that
// recovers.
func (s *Server) noteCheck(name string, err error) {
	s.mu.Lock()
	was := s.failing[name]
	if s.failing == nil {
		s.failing = map[string]bool{}
	}
	s.failing[name] = err != nil
	s.mu.Unlock()
	log := s.log
	if log == nil {
		return
	}
	switch {
	case err != nil && !was:
		log.Warn("readiness check failing", "check", name, "err", err)
	case err == nil && was:
		log.Info("readiness check recovered", "check", name)
	}
}

// drain turns health to 503 and keeps serving for DrainDelay, so the
// endpoints controller takes this replica out of the Service before the
// listener closes. A component failing meanwhile ends it early.
func (s *Server) drain(log *slog.Logger, errc <-chan error) error {
	s.draining.Store(true)
	if s.DrainDelay <= 0 {
		return nil
	}
	c := s.Clock
	if c == nil {
		c = clock.RealClock{}
	}
	log.Info("draining: health answers 503 while the listener still serves", "for", s.DrainDelay)
	select {
	case <-c.After(s.DrainDelay):
		return nil
	case err := <-errc:
		log.Error("component failed while draining; shutting down", "err", err)
		return err
	}
}

// Run serves until ctx is cancelled, then stops accepting requests, lets
// in-flight requests finish, stops the components and closes what New
// opened.
func (s *Server) Run(ctx context.Context) error {
	log := logging.From(ctx)
	// Deferred first, so it runs last: after the components stopped (or
	// the shutdown timed out), and also when listening fails.
	defer func() {
		for _, c := range s.closers {
			if err := c(); err != nil {
				log.Error("closing", "err", err)
			}
		}
	}()
	s.log = log
	s.routes()
	ln := s.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.Addr); err != nil {
			return fmt.Errorf("listening on %s: %w", s.Addr, err)
		}
	}
	// Requests carry the server's logger, so what handlers log through
	// logging.From (refused logins among them) is not discarded.
	hs := &http.Server{Handler: s.Echo, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		BaseContext: func(net.Listener) context.Context { return logging.Into(context.Background(), log) }}

	compCtx, stopComponents := context.WithCancel(logging.Into(context.WithoutCancel(ctx), log))
	defer stopComponents()
	var wg sync.WaitGroup
	errc := make(chan error, len(s.Components)+1)
	for name, c := range s.Components {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(compCtx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	log.Info("serving", "addr", ln.Addr().String())

	var runErr error
	select {
	case <-ctx.Done():
		runErr = s.drain(log, errc)
		log.Info("shutting down: no new requests; finishing in-flight work", "timeout", s.ShutdownTimeout)
	case runErr = <-errc:
		log.Error("component failed; shutting down", "err", runErr)
	}
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = 25 * time.Second
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	// Stop the front door first: every webhook answered 202 is already in
	// the store, so nothing accepted depends on the components below.
	if err := hs.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stopComponents()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutCtx.Done():
		log.Warn("components did not stop in time; their leased events return to the queue when the leases expire")
	}
	return runErr
}
