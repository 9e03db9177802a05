// Command registry is the local stack's OCI registry: go-containerregistry's
// registry with blobs on disk, behind a handler that reads each upload body
// completely before the registry sees it.
//
// Why not `crane registry serve`: its blob handler holds one global lock
// while it streams a PUT body. BuildKit pushes the image and its registry
// cache at the same time over streamed bodies, so a PUT can hold the lock
// while the data for its body waits behind another upload that needs the
// lock — the push hangs for good (seen: pkg/build's integration test stuck
// until the 10-minute test timeout on a fresh daemon). Spooled bodies keep
// the lock for a copy from local disk only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("address", "127.0.0.1:5000", "address to listen on")
	disk := flag.String("disk", "", "directory for blobs (required); manifests are kept in memory")
	flag.Parse()
	if err := run(*addr, *disk); err != nil {
		log.Fatalf("registry: %v", err)
	}
}

func run(addr, disk string) error {
	if disk == "" {
		return errors.New("--disk is required")
	}
	spool := filepath.Join(disk, ".spool")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		return fmt.Errorf("creating the spool directory: %w", err)
	}
	reg := registry.New(registry.WithBlobHandler(registry.NewDiskBlobHandler(disk)))
	srv := &http.Server{
		Addr:              addr,
		Handler:           spooled(spool, reg),
		ReadHeaderTimeout: 30 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("serving on %s, blobs in %s", addr, disk)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// spooled reads the body of every PUT and PATCH into a file under dir
// before next serves the request.
func spooled(dir string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut && r.Method != http.MethodPatch {
			next.ServeHTTP(w, r)
			return
		}
		f, err := os.CreateTemp(dir, "body-*")
		if err != nil {
			http.Error(w, "spooling the body: "+err.Error(), http.StatusInternalServerError)
			return
		}
		defer func() {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}()
		n, err := io.Copy(f, r.Body)
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			http.Error(w, "rewinding the spooled body: "+err.Error(), http.StatusInternalServerError)
			return
		}
		r.Body, r.ContentLength = f, n
		r.TransferEncoding = nil
		next.ServeHTTP(w, r)
	})
}
