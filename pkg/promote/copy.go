package promote

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/slipway-ci/slipway/pkg/signing"
)

// CopyOptions are the registry options of each side (auth, transport).
type CopyOptions struct {
	Source []remote.Option
	Target []remote.Option
	// Tag, when set, also tags the copy in the target repository.
	Tag string
}

// Copy copies the manifest src names (and its signature manifest, so the
// next environment's gate finds it) (an index with its images and
// attestation manifests, or a single image) into the target repository
// by digest, and checks the target serves the same digest. It returns the
// target reference, REPO@sha256:….
func Copy(ctx context.Context, src name.Digest, target name.Repository, o CopyOptions) (name.Digest, error) {
	srcOpts := append([]remote.Option{remote.WithContext(ctx)}, o.Source...)
	dstOpts := append([]remote.Option{remote.WithContext(ctx)}, o.Target...)
	dst := target.Digest(src.DigestStr())
	desc, err := remote.Get(src, srcOpts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("reading %s: %w", src, err)
	}
	if desc.Digest.String() != src.DigestStr() {
		return name.Digest{}, fmt.Errorf("%s: registry served digest %s", src, desc.Digest)
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return name.Digest{}, fmt.Errorf("reading index %s: %w", src, err)
		}
		// WriteIndex pushes every child manifest and blob first.
		if err := remote.WriteIndex(dst, idx, dstOpts...); err != nil {
			return name.Digest{}, fmt.Errorf("writing %s: %w", dst, err)
		}
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return name.Digest{}, fmt.Errorf("reading image %s: %w", src, err)
		}
		if err := remote.Write(dst, img, dstOpts...); err != nil {
			return name.Digest{}, fmt.Errorf("writing %s: %w", dst, err)
		}
	default:
		return name.Digest{}, fmt.Errorf("%s: media type %s is neither an image nor an index", src, desc.MediaType)
	}
	got, err := remote.Head(dst, dstOpts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("checking %s: %w", dst, err)
	}
	if got.Digest.String() != src.DigestStr() {
		return name.Digest{}, fmt.Errorf("copy of %s has digest %s in the target", src, got.Digest)
	}
	if err := copySignatures(src, target, srcOpts, dstOpts); err != nil {
		return name.Digest{}, err
	}
	if o.Tag != "" {
		if err := remote.Tag(target.Tag(o.Tag), desc, dstOpts...); err != nil {
			return name.Digest{}, fmt.Errorf("tagging %s as %s: %w", dst, o.Tag, err)
		}
	}
	return dst, nil
}

// copySignatures copies src's cosign signature manifest, when it has one,
// to the same tag in target.
func copySignatures(src name.Digest, target name.Repository, srcOpts, dstOpts []remote.Option) error {
	tag, err := signing.SignatureTag(src)
	if err != nil {
		return err
	}
	img, err := remote.Image(tag, srcOpts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the signatures of %s: %w", src, err)
	}
	dst := target.Tag(tag.TagStr())
	if err := remote.Write(dst, img, dstOpts...); err != nil {
		return fmt.Errorf("writing the signatures %s: %w", dst, err)
	}
	return nil
}
