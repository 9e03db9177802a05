// Command fakescm serves git repositories over HTTP and fake GitHub and
// GitLab APIs for the local stack, and with --smtp-addr a catch-all SMTP
// inbox (see package fakescm).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
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
	smtpAddr := flag.String("smtp-addr", "", "also accept mail on this address (listed at /_fake/mail); empty: no SMTP")
	flag.Parse()
	if *repos == "" {
		fmt.Fprintln(os.Stderr, "fakescm: --repos is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fake := fakescm.New(*repos)
	srv := &http.Server{Addr: *addr, Handler: fake.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if *smtpAddr != "" {
		l, err := net.Listen("tcp", *smtpAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakescm: smtp:", err)
			os.Exit(1)
		}
		mail := fake.SMTPServer()
		go func() {
			if err := mail.Serve(l); err != nil {
				fmt.Fprintln(os.Stderr, "fakescm: smtp:", err)
			}
		}()
		defer func() { _ = mail.Close() }()
		fmt.Printf("fakescm: SMTP on %s, received mail at http://%s/_fake/mail\n", *smtpAddr, *addr)
	}
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
