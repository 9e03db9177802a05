// Package depcache keeps the unit-test step's dependency caches (Go's
// module and build caches, npm's, pip's, Maven's and Gradle's) in the
// registry, as one image per app and dependency manifest hash: restored
// before the tests, saved after a trusted build's tests passed. The
// registry rather than a shared volume: every run pod reaches it already,
// it needs no ReadWriteMany storage, and one key's cache is written once
// and never changes (content-addressed, like the key).
package depcache

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Manifests are the files, relative to the checkout root, whose content
// decides a toolchain's dependencies. Only those present count.
var Manifests = []string{
	"go.mod", "go.sum",
	"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
	"requirements.txt", "requirements-dev.txt", "poetry.lock", "Pipfile.lock", "uv.lock",
	"pom.xml",
	"build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts", "gradle.lockfile", "gradle/libs.versions.toml",
}

// MaxManifestBytes caps one manifest read for the key: a lockfile is
// large, but not this large.
const MaxManifestBytes = 32 << 20

// DefaultMaxBytes caps a cache, packed and unpacked alike.
const DefaultMaxBytes = 2 << 30

// HitMarker is written into the cache directory by a restore that found
// the key, so the save after the tests knows there is nothing new.
const HitMarker = ".slipway-depcache-hit"

// ErrMiss: the registry has no cache for the key.
var ErrMiss = errors.New("no cache for this key")

// ErrTooLarge: the cache is over the size cap; nothing is written.
var ErrTooLarge = errors.New("cache larger than the cap")

// annotationKey names the key on the cache image's manifest.
const annotationKey = "dev.slipway.depcache.key"

// Key is the cache tag of the checkout at root: "deps-" and a hash of
// salt (the build image, so another toolchain never reads this one's
// compiled cache) and of each manifest present. "" when root has none:
// nothing to key a cache by.
func Key(root, salt string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "slipway depcache v1\x00%s\x00", salt)
	found := false
	for _, m := range Manifests {
		f, err := os.Open(filepath.Join(root, filepath.FromSlash(m)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", m, err)
		}
		st, err := f.Stat()
		if err == nil && !st.Mode().IsRegular() {
			f.Close()
			continue
		}
		fmt.Fprintf(h, "%s\x00", m)
		n, err := io.Copy(h, io.LimitReader(f, MaxManifestBytes+1))
		f.Close()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", m, err)
		}
		if n > MaxManifestBytes {
			return "", fmt.Errorf("%s is larger than %d bytes", m, MaxManifestBytes)
		}
		fmt.Fprintf(h, "\x00%d\x00", n)
		found = true
	}
	if !found {
		return "", nil
	}
	return "deps-" + hex.EncodeToString(h.Sum(nil))[:32], nil
}

// Store reads and writes caches under one repository, the app's.
type Store struct {
	Repo name.Repository
	// Remote are the registry options (auth, transport).
	Remote []remote.Option
	// MaxBytes caps a cache packed and unpacked; 0 means DefaultMaxBytes.
	MaxBytes int64
}

// Stats describe what a restore or save moved.
type Stats struct {
	Files int
	// Bytes are the files' sizes; Packed is the layer's (gzip) size.
	Bytes, Packed int64
	Ref           string
}

func (s *Store) max() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s *Store) tag(key string) (name.Tag, error) {
	if !strings.HasPrefix(key, "deps-") || strings.ContainsAny(key, "/:@") {
		return name.Tag{}, fmt.Errorf("cache key %q: want deps-HASH", key)
	}
	return s.Repo.Tag(key), nil
}

// Restore unpacks the cache of key into dir (created if missing) and
// writes HitMarker there. ErrMiss when the registry has none. Entries
// that would land outside dir, links and devices are refused or skipped,
// so a cache written by a compromised build cannot write elsewhere.
func (s *Store) Restore(ctx context.Context, key, dir string) (Stats, error) {
	tag, err := s.tag(key)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Ref: tag.String()}
	img, err := remote.Image(tag, append([]remote.Option{remote.WithContext(ctx)}, s.Remote...)...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == 404 {
		return st, ErrMiss
	}
	if err != nil {
		return st, fmt.Errorf("reading %s: %w", tag, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return st, fmt.Errorf("reading %s: %w", tag, err)
	}
	if len(layers) != 1 {
		return st, fmt.Errorf("%s has %d layers, want the one a save writes", tag, len(layers))
	}
	if st.Packed, err = layers[0].Size(); err != nil {
		return st, fmt.Errorf("reading %s: %w", tag, err)
	}
	if st.Packed > s.max() {
		return st, fmt.Errorf("%s: %w (%d bytes packed, cap %d)", tag, ErrTooLarge, st.Packed, s.max())
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return st, fmt.Errorf("reading %s: %w", tag, err)
	}
	defer rc.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, err
	}
	if err := unpack(rc, dir, s.max(), &st); err != nil {
		return st, fmt.Errorf("unpacking %s: %w", tag, err)
	}
	if err := os.WriteFile(filepath.Join(dir, HitMarker), []byte(key+"\n"), 0o644); err != nil { //nolint:gosec // read by the save step, another user
		return st, err
	}
	return st, nil
}

// Hit reports whether a restore into dir found its cache.
func Hit(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, HitMarker))
	return err == nil
}

func unpack(r io.Reader, dir string, maxBytes int64, st *Stats) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel := path.Clean(h.Name)
		if path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("entry %q leaves the cache directory", h.Name)
		}
		if rel == "." || rel == HitMarker {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		mode := os.FileMode(h.Mode).Perm() | 0o200 // writable by the owner, so the next save and cleanup work
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			st.Bytes += h.Size
			if st.Bytes > maxBytes {
				return fmt.Errorf("%w (more than %d bytes unpacked)", ErrTooLarge, maxBytes)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := writeFile(target, tr, h.Size, mode); err != nil {
				return err
			}
			st.Files++
		default:
			// Links and devices: a save never writes them.
		}
	}
}

func writeFile(target string, r io.Reader, size int64, mode os.FileMode) error {
	// O_EXCL after removing: never follow a link someone left at target.
	_ = os.Remove(target)
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Save packs dir (regular files and directories; links are skipped) as the
// cache of key and pushes it. ErrTooLarge, with nothing pushed, when
// dir holds more than the cap.
func (s *Store) Save(ctx context.Context, key, dir string) (Stats, error) {
	tag, err := s.tag(key)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Ref: tag.String()}
	tmp, err := os.CreateTemp("", "depcache-*.tar.gz")
	if err != nil {
		return st, err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	defer tmp.Close()
	if err := pack(tmp, dir, s.max(), &st); err != nil {
		return st, err
	}
	if err := tmp.Close(); err != nil {
		return st, err
	}
	layer, err := tarball.LayerFromFile(tmp.Name(), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return st, err
	}
	if st.Packed, err = layer.Size(); err != nil {
		return st, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), layer)
	if err != nil {
		return st, err
	}
	img = mutate.Annotations(img, map[string]string{annotationKey: key}).(v1.Image)
	if err := remote.Write(tag, img, append([]remote.Option{remote.WithContext(ctx)}, s.Remote...)...); err != nil {
		return st, fmt.Errorf("pushing %s: %w", tag, err)
	}
	return st, nil
}

func pack(w io.Writer, dir string, maxBytes int64, st *Stats) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrPermission) && p != dir {
			// Another user's private directory (the test step may run as
			// root): a cache is an optimisation, the rest is still worth it.
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." || rel == HitMarker {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.IsDir() && !info.Mode().IsRegular() {
			return nil
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(info.Mode().Perm()), ModTime: info.ModTime()}
		if info.IsDir() {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
			return tw.WriteHeader(h)
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrPermission) {
			return nil // as above: skipped
		}
		if err != nil {
			return err
		}
		defer f.Close()
		h.Typeflag, h.Size = tar.TypeReg, info.Size()
		st.Bytes += h.Size
		if st.Bytes > maxBytes {
			return fmt.Errorf("%w (more than %d bytes in %s)", ErrTooLarge, maxBytes, dir)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, f, h.Size); err != nil {
			return err
		}
		st.Files++
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
