package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec is what an image is made of: layers bottom first, and the config fields we set.
// The result is always linux/amd64 created at the Unix epoch, so the same layers and
// fields give the same digest.
type Spec struct {
	Layers     []string
	Env        []string
	Entrypoint []string
	Cmd        []string
	User       string
	WorkingDir string
}

// epoch, not the zero time (year 1), is what reproducible image builders write.
var epoch = v1.Time{Time: time.Unix(0, 0).UTC()}

// Build assembles the image. Layer digests come from a sidecar file next to each layer
// (computed once), so building from cached layers reads no layer content.
func Build(s Spec) (v1.Image, error) {
	if len(s.Layers) == 0 {
		return nil, errors.New("no layers given")
	}
	for _, e := range s.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return nil, fmt.Errorf("env entry %q is not KEY=VALUE", e)
		}
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, path := range s.Layers {
		l, err := openLayer(path)
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     l,
			MediaType: types.OCILayer,
			History:   v1.History{Created: epoch, CreatedBy: "e2e/stack/images.sh: " + filepath.Base(path)},
		})
		if err != nil {
			return nil, fmt.Errorf("appending layer %s: %w", path, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = epoch
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = s.Env
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.Cmd = s.Cmd
	cf.Config.User = s.User
	cf.Config.WorkingDir = s.WorkingDir
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting the config: %w", err)
	}
	return img, nil
}

// Push writes img to ref. remote.Write HEADs every blob first, so only what the registry
// lacks is uploaded. upToDate reports that the tag already pointed at this digest.
func Push(ctx context.Context, img v1.Image, ref string, insecure bool) (upToDate bool, err error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return false, fmt.Errorf("parsing %q: %w", ref, err)
	}
	dig, err := img.Digest()
	if err != nil {
		return false, fmt.Errorf("computing the image digest: %w", err)
	}
	if d, err := remote.Head(r, remote.WithContext(ctx)); err == nil && d.Digest == dig {
		upToDate = true
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return false, fmt.Errorf("pushing %s: %w", ref, err)
	}
	return upToDate, nil
}

// WriteOCIArchive writes img as a tar of an OCI image layout. The index entry carries both
// the OCI ref name (the tag) and containerd's image name, so `ctr images import` names it
// imageName without --base-name.
func WriteOCIArchive(img v1.Image, imageName, path string) error {
	r, err := name.ParseReference(imageName)
	if err != nil {
		return fmt.Errorf("parsing image name %q: %w", imageName, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".oci-layout-")
	if err != nil {
		return fmt.Errorf("creating a temporary layout: %w", err)
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": r.Identifier(),
		"io.containerd.image.name":          r.Name(),
	})); err != nil {
		return fmt.Errorf("writing the image into the OCI layout: %w", err)
	}
	if err := tarDir(tmp, path+".tmp"); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("renaming the OCI archive: %w", err)
	}
	return nil
}

func tarDir(dir, path string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing %s: %w", path, cerr)
		}
	}()
	tw := tar.NewWriter(f)
	walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if walkErr != nil {
		return fmt.Errorf("archiving %s: %w", dir, walkErr)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing %s: %w", path, err)
	}
	return nil
}

// layerFile is a gzipped tar on disk whose digests are known without reading it.
type layerFile struct {
	path string
	sums layerSums
}

// layerSums is the sidecar content; Size and ModTime tell whether it still matches the file.
type layerSums struct {
	Size    int64   `json:"size"`
	ModTime int64   `json:"modTimeUnixNano"`
	Digest  v1.Hash `json:"digest"`
	DiffID  v1.Hash `json:"diffID"`
}

var _ partial.CompressedLayer = (*layerFile)(nil)
var _ partial.WithDiffID = (*layerFile)(nil)

func (l *layerFile) Digest() (v1.Hash, error)            { return l.sums.Digest, nil }
func (l *layerFile) DiffID() (v1.Hash, error)            { return l.sums.DiffID, nil }
func (l *layerFile) Size() (int64, error)                { return l.sums.Size, nil }
func (l *layerFile) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *layerFile) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

func openLayer(path string) (v1.Layer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("layer %s is not a regular file", path)
	}
	side := path + ".sums.json"
	var sums layerSums
	if b, err := os.ReadFile(side); err == nil && json.Unmarshal(b, &sums) == nil &&
		sums.Size == st.Size() && sums.ModTime == st.ModTime().UnixNano() {
		return partial.CompressedToLayer(&layerFile{path: path, sums: sums})
	}
	sums, err = hashLayer(path)
	if err != nil {
		return nil, err
	}
	sums.Size, sums.ModTime = st.Size(), st.ModTime().UnixNano()
	b, err := json.Marshal(sums)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", side, err)
	}
	if err := os.WriteFile(side, b, 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", side, err)
	}
	return partial.CompressedToLayer(&layerFile{path: path, sums: sums})
}

// hashLayer reads the file once: sha256 of the gzip stream and of the tar inside it.
func hashLayer(path string) (layerSums, error) {
	f, err := os.Open(path)
	if err != nil {
		return layerSums{}, fmt.Errorf("layer: %w", err)
	}
	defer f.Close()
	compressed := sha256.New()
	zr, err := gzip.NewReader(io.TeeReader(f, compressed))
	if err != nil {
		return layerSums{}, fmt.Errorf("layer %s is not gzip: %w", path, err)
	}
	uncompressed := sha256.New()
	if _, err := io.Copy(uncompressed, zr); err != nil {
		return layerSums{}, fmt.Errorf("reading layer %s: %w", path, err)
	}
	// Drain what gzip did not need (padding) so the digest covers the whole file.
	if _, err := io.Copy(compressed, f); err != nil {
		return layerSums{}, fmt.Errorf("reading layer %s: %w", path, err)
	}
	return layerSums{
		Digest: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", compressed.Sum(nil))},
		DiffID: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", uncompressed.Sum(nil))},
	}, nil
}
