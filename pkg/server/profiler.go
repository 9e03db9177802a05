package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Profiler serves Go's profiles (net/http/pprof) on its own listener, so
// they never share the public webhook port. Bind it to loopback or a
// port-forward: profiles reveal internals.
type Profiler struct {
	Addr string
	// Listener, when set, is used instead of listening on Addr (tests).
	Listener net.Listener
}

// Run serves until ctx is done.
func (p *Profiler) Run(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln := p.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", p.Addr); err != nil {
			return fmt.Errorf("profiler: %w", err)
		}
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("profiler: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("profiler shutdown: %w", err)
	}
	return nil
}
