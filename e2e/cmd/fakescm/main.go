// Command fakescm serves git repositories over HTTP and fake GitHub and
// GitLab APIs for the local stack (see package fakescm).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/slipway-ci/slipway/e2e/fakescm"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8929", "listen address")
	repos := flag.String("repos", "", "directory of bare repositories (<owner>/<name>.git)")
	flag.Parse()
	if *repos == "" {
		fmt.Fprintln(os.Stderr, "fakescm: --repos is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *addr, Handler: fakescm.New(*repos).Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("fakescm: git on http://%s/git/, GitHub API http://%s/github/api/v3/, GitLab API http://%s/gitlab/api/v4\n", *addr, *addr, *addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "fakescm:", err)
		os.Exit(1)
	}
}
