package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/promote"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/signing"
	"github.com/slipway-ci/slipway/pkg/store"
)

// signer loads --signing-key-file; nil when it is not set. The key is a
// file mounted from a Secret into the server pod only: CI pods run the
// repositories' code and never see it, and the server's RBAC reads no
// Secrets.
func signer(cfg *config.Config) (*signing.Signer, error) {
	if cfg.SigningKeyFile == "" {
		return nil, nil
	}
	return signing.LoadSigner(cfg.SigningKeyFile, []byte(cfg.SigningKeyPassword.Reveal()))
}

// verifyKeys are the keys the promotion gate accepts: --verify-keys, else
// the signing key's public half; none when neither is set.
func verifyKeys(cfg *config.Config) ([]signing.Key, error) {
	if len(cfg.VerifyKeys) > 0 {
		return signing.LoadKeys(cfg.VerifyKeys...)
	}
	s, err := signer(cfg)
	if err != nil || s == nil {
		return nil, err
	}
	k, err := s.PublicKey("signing-key-file")
	if err != nil {
		return nil, err
	}
	return []signing.Key{k}, nil
}

// gateSignatures is the gate's signature check, nil without keys.
func gateSignatures(keys []signing.Key, runs promote.RunGetter) *promote.Signatures {
	if len(keys) == 0 {
		return nil
	}
	return &promote.Signatures{Keys: keys, Runs: runs}
}

// ImageSigner signs an image digest for a run (*signing.Signer).
type ImageSigner interface {
	Sign(ctx context.Context, image name.Digest, c signing.Claims, opts ...remote.Option) error
}

var _ ImageSigner = (*signing.Signer)(nil)

// signBackoff: a registry that is briefly away gets a few more tries
// before the run stays unsigned (its promotion is then refused, and the
// log says why).
var signBackoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.5, Steps: 4, Cap: 10 * time.Second}

// withSigning signs the image of each succeeded run after next, so the
// automatic deploy that follows finds the signature. The payload names
// the run, its repo and commit, all from Slipway's own records: nothing a
// pipeline step wrote but the digest, which the gate compares again.
func withSigning(next func(context.Context, run.Run), s ImageSigner, insecure []string, opts []remote.Option, log *slog.Logger) func(context.Context, run.Run) {
	if s == nil {
		return next
	}
	sign := runSigner{s: s, insecure: insecure, opts: opts, log: log}
	return func(ctx context.Context, r run.Run) {
		next(ctx, r)
		sign.sign(ctx, r)
	}
}

// runSigner signs runs' images, logging what fails: a run left unsigned
// is refused at promotion, and the log says why.
type runSigner struct {
	s        ImageSigner
	insecure []string
	opts     []remote.Option
	log      *slog.Logger
}

// sign signs r's image when r succeeded with one; it reports whether r's
// image is signed now.
func (rs runSigner) sign(ctx context.Context, r run.Run) bool {
	if r.State != run.Succeeded || r.ImageDigest == "" || r.ImageURL == "" {
		return false
	}
	img, err := runImage(r, rs.insecure)
	if err != nil {
		rs.log.ErrorContext(ctx, "signing: the run's image", "run", r.ID, "err", err)
		return false
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c := signing.Claims{RunID: r.ID, Repo: r.Repo, Commit: r.SHA}
	var last error
	err = wait.ExponentialBackoffWithContext(sctx, signBackoff, func(ctx context.Context) (bool, error) {
		last = rs.s.Sign(ctx, img, c, rs.opts...)
		if ok, _ := retry.IsTransient(last); ok {
			return false, nil
		}
		return true, last
	})
	if err != nil {
		if last != nil {
			err = last
		}
		rs.log.ErrorContext(ctx, "signing", "run", r.ID, "image", img.String(), "err", err)
		return false
	}
	rs.log.DebugContext(ctx, "signed", "run", r.ID, "image", img.String())
	return true
}

// signCatchUpRuns is how many of the newest succeeded runs signCatchUp
// looks at: more than finish while a server restarts.
const signCatchUpRuns = 50

// signCatchUp signs, at start, the images of the newest succeeded runs:
// the reporter's hook signs once a run's final status is posted, and a
// server stopped in between never comes back to that run. Signing an
// image already signed for its run adds nothing.
type signCatchUp struct {
	runs  promote.RunLister
	sign  runSigner
	limit int
}

var _ Component = (*signCatchUp)(nil)

func (c *signCatchUp) Run(ctx context.Context) error {
	c.catchUp(ctx)
	<-ctx.Done()
	return nil
}

// catchUp returns how many of the runs it looked at are signed.
func (c *signCatchUp) catchUp(ctx context.Context) int {
	runs, err := c.runs.ListRuns(ctx, store.RunFilter{State: run.Succeeded, Limit: c.limit})
	if err != nil {
		c.sign.log.WarnContext(ctx, "signing: listing recent succeeded runs", "err", err)
		return 0
	}
	n := 0
	for _, r := range runs {
		if ctx.Err() != nil {
			break
		}
		if c.sign.sign(ctx, r) {
			n++
		}
	}
	c.sign.log.InfoContext(ctx, "signing: recent succeeded runs' images are signed", "runs", len(runs), "signed", n)
	return n
}

// runImage is the run's image by digest: the repository of its
// IMAGE_URL result (a tag or digest reference) at its IMAGE_DIGEST.
func runImage(r run.Run, insecure []string) (name.Digest, error) {
	repo := r.ImageURL
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	ref, err := name.ParseReference(repo)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image %q of run %s: %w", r.ImageURL, r.ID, err)
	}
	var opts []name.Option
	for _, reg := range insecure {
		// As the promotion service decides it (insecureRepo).
		if strings.HasPrefix(repo, strings.TrimSuffix(reg, "/")+"/") {
			opts = append(opts, name.Insecure)
		}
	}
	d, err := name.NewDigest(ref.Context().Name()+"@"+r.ImageDigest, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image of run %s: %w", r.ID, err)
	}
	return d, nil
}

// imageSigner is s, or nil (no signing); a nil *signing.Signer in the
// interface would not compare equal to nil.
func imageSigner(s *signing.Signer) ImageSigner {
	if s == nil {
		return nil
	}
	return s
}
