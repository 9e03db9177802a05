package builds

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// ErrNotFound is returned by FileInfo and ReadFile for a path the image's
// filesystem does not have.
var ErrNotFound = errors.New("no such file in the image")

// ReadFile returns the content of the regular file at p (absolute) in the
// image's flattened filesystem.
func ReadFile(img v1.Image, p string) ([]byte, error) {
	var data []byte
	err := walk(img, func(h *tar.Header, r io.Reader) (bool, error) {
		if cleanName(h.Name) != path.Clean(p) {
			return false, nil
		}
		if h.Typeflag != tar.TypeReg {
			return true, fmt.Errorf("%s in the image is not a regular file (type %q)", p, h.Typeflag)
		}
		var err error
		data, err = io.ReadAll(r)
		return true, err
	})
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	return data, nil
}

// FileSize returns the size of the regular file at p in the image.
func FileSize(img v1.Image, p string) (int64, error) {
	size := int64(-1)
	err := walk(img, func(h *tar.Header, _ io.Reader) (bool, error) {
		if cleanName(h.Name) != path.Clean(p) {
			return false, nil
		}
		size = h.Size
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	if size < 0 {
		return 0, fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	return size, nil
}

// walk calls fn for each entry of the flattened filesystem until fn says
// it is done.
func walk(img v1.Image, fn func(*tar.Header, io.Reader) (done bool, err error)) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the image filesystem: %w", err)
		}
		done, err := fn(h, tr)
		if err != nil || done {
			return err
		}
	}
}

func cleanName(n string) string { return path.Clean("/" + n) }

// Size is an image's size: what a pull downloads and what it unpacks to.
type Size struct {
	// Compressed is the sum of the layer sizes in the manifest.
	Compressed int64
	// Uncompressed is the sum of the uncompressed layer tarballs.
	Uncompressed int64
	Layers       int
}

// ImageSize measures img; the uncompressed size reads every layer.
func ImageSize(img v1.Image) (Size, error) {
	m, err := img.Manifest()
	if err != nil {
		return Size{}, fmt.Errorf("reading the manifest: %w", err)
	}
	s := Size{Layers: len(m.Layers)}
	for _, l := range m.Layers {
		s.Compressed += l.Size
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return Size{}, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		rc, err := layer.Uncompressed()
		if err != nil {
			return Size{}, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return Size{}, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		s.Uncompressed += n
	}
	return s, nil
}

// Unpack writes the image's flattened filesystem under dir (created), with
// owners and modes, as a container runtime's root filesystem. Device nodes
// are skipped; the runtime provides /dev.
func Unpack(img v1.Image, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("unpacking: %w", err)
	}
	type dirMode struct {
		path string
		mode os.FileMode
	}
	var dirs []dirMode // modes are set last: a read-only directory must still be filled
	err := walk(img, func(h *tar.Header, r io.Reader) (bool, error) {
		rel := strings.TrimPrefix(cleanName(h.Name), "/")
		if rel == "" {
			return false, nil
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return true, err
		}
		mode := os.FileMode(h.Mode).Perm() | tarSpecialBits(h.Mode)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return true, err
			}
			dirs = append(dirs, dirMode{target, mode})
		case tar.TypeReg:
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return true, err
			}
			if _, err := io.Copy(f, r); err != nil {
				f.Close()
				return true, fmt.Errorf("writing %s: %w", rel, err)
			}
			if err := f.Close(); err != nil {
				return true, err
			}
			// chown first: it clears setuid/setgid.
			if err := os.Chown(target, h.Uid, h.Gid); err != nil {
				return true, fmt.Errorf("chown %s: %w", rel, err)
			}
			return false, os.Chmod(target, mode)
		case tar.TypeSymlink:
			_ = os.Remove(target)
			if err := os.Symlink(h.Linkname, target); err != nil {
				return true, err
			}
		case tar.TypeLink:
			src := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(cleanName(h.Linkname), "/")))
			_ = os.Remove(target)
			if err := os.Link(src, target); err != nil {
				return true, err
			}
		default: // devices and fifos: the runtime makes /dev
			return false, nil
		}
		if err := os.Lchown(target, h.Uid, h.Gid); err != nil {
			return true, fmt.Errorf("chown %s: %w", rel, err)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("unpacking into %s: %w", dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].path, dirs[i].mode); err != nil {
			return fmt.Errorf("unpacking: %w", err)
		}
	}
	return nil
}

// tarSpecialBits maps the setuid/setgid/sticky bits of a tar mode (Unix
// values) to Go's FileMode bits.
func tarSpecialBits(m int64) os.FileMode {
	var mode os.FileMode
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}
