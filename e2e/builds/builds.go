// Package builds renders Slipway's sample apps, builds them on a real
// buildkitd, and inspects and runs the images it pushed: the shared kit of
// the real-build tests (build tag integration) and of bench/cmd/buildbench.
package builds

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/pkg/dockerfile"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// Stack is the build environment started by e2e/stack/registry.sh and
// e2e/stack/buildkit.sh.
type Stack struct {
	// Registry is the loopback registry, e.g. 127.0.0.1:5000; the base
	// images are under Registry + "/base" (e2e/stack/images.sh).
	Registry string
	// BuildkitHost is the buildkitd address.
	BuildkitHost string
	// SBOMGenerator is the image BuildKit runs for attest:sbom:
	// $SLIPWAY_SBOM_GENERATOR, else the one images.sh pushes
	// (Registry/slipway/sbom-generator:v1).
	SBOMGenerator string
}

// StackFromEnv reads SLIPWAY_REGISTRY and BUILDKIT_HOST, which the stack
// scripts print as export lines.
func StackFromEnv() (Stack, error) {
	s := Stack{Registry: os.Getenv("SLIPWAY_REGISTRY"), BuildkitHost: os.Getenv("BUILDKIT_HOST")}
	if s.Registry == "" || s.BuildkitHost == "" {
		return s, errors.New("SLIPWAY_REGISTRY and BUILDKIT_HOST must be set: run `make integration-build`, " +
			"or eval the output of e2e/stack/registry.sh up and e2e/stack/buildkit.sh up")
	}
	s.SBOMGenerator = os.Getenv("SLIPWAY_SBOM_GENERATOR")
	if s.SBOMGenerator == "" {
		s.SBOMGenerator = s.Registry + "/slipway/sbom-generator:v1"
	}
	return s, nil
}

// BaseRegistry is the prefix of the base images the templates name.
func (s Stack) BaseRegistry() string { return s.Registry + "/base" }

// Prepare copies the app in src to dst (which must not exist or be empty),
// renders its Dockerfile and writes it to dst/.slipway/Dockerfile, as the
// pipeline's generate-dockerfile task does in the checkout.
func Prepare(src, dst string, rc *repoconfig.Config, o dockerfile.Options) (*dockerfile.Result, error) {
	if err := CopyTree(src, dst); err != nil {
		return nil, err
	}
	res, err := dockerfile.Render(dst, rc, o)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", src, err)
	}
	out := filepath.Join(dst, filepath.FromSlash(dockerfile.OutputPath))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("writing the Dockerfile: %w", err)
	}
	if err := os.WriteFile(out, res.Dockerfile, 0o644); err != nil {
		return nil, fmt.Errorf("writing the Dockerfile: %w", err)
	}
	return res, nil
}

// CopyTree copies the regular files and directories under src to dst.
// Anything else (symlinks, devices) is an error: sample apps have none.
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(p, target)
		default:
			return fmt.Errorf("copying %s: not a regular file or directory", p)
		}
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

// PlatformImage returns the image for this machine's platform from what
// ref names (BuildKit pushes an index: the image plus its attestation
// manifest). insecure allows a plain-HTTP registry.
func PlatformImage(ref string, insecure bool) (v1.Image, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", ref, err)
	}
	img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", ref, err)
	}
	return img, nil
}
