// Command ociimage assembles an OCI image from gzipped layer tarballs and a few config
// fields, pushes it (only the blobs the registry lacks travel) and can also write it as an
// OCI archive for `ctr images import`. e2e/stack/images.sh drives it; it exists because crane
// can only mutate images that are already in a registry.
//
//	ociimage -layer rootfs.tar.gz [-layer app.tar.gz] -env PATH=/bin -entrypoint /app \
//	         -user 65532:65532 -push 127.0.0.1:5000/app:dev [-oci-tar app.tar -oci-name app:dev]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, " ") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	var s Spec
	var pushRef, ociTar, ociName string
	var insecure bool
	fs.Var((*list)(&s.Layers), "layer", "gzipped tar `file` to add as a layer (repeatable, bottom first)")
	fs.Var((*list)(&s.Env), "env", "`KEY=VALUE` environment entry (repeatable)")
	fs.Var((*list)(&s.Entrypoint), "entrypoint", "entrypoint `word` (repeatable)")
	fs.Var((*list)(&s.Cmd), "cmd", "cmd `word` (repeatable)")
	fs.StringVar(&s.User, "user", "", "user (uid[:gid]) the image runs as; empty means root")
	fs.StringVar(&s.WorkingDir, "workdir", "", "working directory")
	fs.StringVar(&pushRef, "push", "", "push the image to this `reference`")
	fs.BoolVar(&insecure, "insecure", false, "talk plain HTTP to the registry (loopback registries always are)")
	fs.StringVar(&ociTar, "oci-tar", "", "also write the image as an OCI archive to this `file`")
	fs.StringVar(&ociName, "oci-name", "", "image name recorded in the OCI archive (default: the -push reference)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if pushRef == "" && ociTar == "" {
		return errors.New("nothing to do: give -push and/or -oci-tar")
	}
	img, err := Build(s)
	if err != nil {
		return err
	}
	dig, err := img.Digest()
	if err != nil {
		return fmt.Errorf("computing the image digest: %w", err)
	}
	if pushRef != "" {
		up, err := Push(ctx, img, pushRef, insecure)
		if err != nil {
			return err
		}
		state := "pushed"
		if up {
			state = "up to date"
		}
		fmt.Fprintf(out, "%s@%s %s\n", pushRef, dig, state)
	}
	if ociTar != "" {
		if ociName == "" {
			ociName = pushRef
		}
		if ociName == "" {
			return errors.New("-oci-tar needs -oci-name (or -push) to name the image")
		}
		if err := WriteOCIArchive(img, ociName, ociTar); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s@%s written to %s\n", ociName, dig, ociTar)
	}
	return nil
}
