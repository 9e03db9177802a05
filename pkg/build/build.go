// Package build builds a Dockerfile context with a BuildKit daemon and
// pushes the image with SLSA provenance and, given a generator image, an
// SPDX SBOM attestation, the way the build-push Task does.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"
)

// Build arguments Slipway's Dockerfile templates turn into OCI labels
// (org.opencontainers.image.source / revision / created).
const (
	ArgSource   = "SLIPWAY_SOURCE"
	ArgRevision = "SLIPWAY_REVISION"
	ArgCreated  = "SLIPWAY_CREATED"
)

// The OCI labels every image Slipway builds carries, set through BuildKit's
// label: frontend options so a repository's own Dockerfile gets them as
// well as a generated one (whose LABEL instruction sets the same values).
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelCreated  = "org.opencontainers.image.created"
	// LabelRun names the Slipway run (namespace/PipelineRun) that built
	// the image.
	LabelRun = "slipway.dev/run"
)

// DefaultBuilderID is recorded as the provenance builder.id unless the
// request names another one; promotion checks it.
const DefaultBuilderID = "https://slipway.dev/builder/buildkit"

// Request is one build: a context directory, its Dockerfile, the image to
// push and the source it was built from.
type Request struct {
	// ContextDir is the build context (the cloned repository).
	ContextDir string
	// Dockerfile is the Dockerfile path; default ContextDir/Dockerfile.
	Dockerfile string
	// Image is the repository to push to, without tag (registry/app).
	Image string
	// Tag is the image tag, usually the short commit SHA.
	Tag string
	// SourceURL and Revision are the clone URL and full commit SHA; both
	// end up in the provenance (vcs:source / vcs:revision) and the labels.
	SourceURL string
	Revision  string
	// Created is the image creation time for the OCI label; default now.
	Created time.Time
	// Run is the Slipway run ("namespace/name" of the PipelineRun), the
	// slipway.dev/run label; empty leaves the label out.
	Run string
	// BuildArgs are extra --build-arg values; they cannot override the
	// SLIPWAY_* arguments above.
	BuildArgs map[string]string
	// BuilderID is the provenance builder.id; default DefaultBuilderID.
	BuilderID string
	// ProvenanceVersion is the SLSA predicate version, "v1" or "v0.2";
	// default: the daemon's own (v1 on the v0.33 buildkitd Slipway runs).
	ProvenanceVersion string
	// SBOMGenerator is the image BuildKit runs to scan the built image
	// (attest:sbom generator=, see images/sbom-generator); its SPDX
	// statement is attached beside the provenance. Empty: no SBOM.
	SBOMGenerator string
	// CacheRef is the registry cache image; default Image:buildcache.
	// NoCache turns cache import/export off.
	CacheRef string
	// CacheFrom are more registry caches imported read-only, never
	// exported to: a merge request's build reads main's cache this way and
	// writes only its own CacheRef, so it cannot poison what main reuses.
	CacheFrom []string
	NoCache   bool
	// Insecure lets BuildKit push to and cache in a plain-HTTP registry.
	Insecure bool
}

// Result is what the Task writes as IMAGE_URL and IMAGE_DIGEST.
type Result struct {
	// ImageURL is repo:tag as pushed (what Tekton Chains reads).
	ImageURL string
	// Digest is the sha256 digest of the pushed image index.
	Digest string
}

// solver is the part of *client.Client used here (same signature), so
// tests can hand in a fake daemon.
type solver interface {
	Solve(ctx context.Context, def *llb.Definition, opt client.SolveOpt, statusChan chan *client.SolveStatus) (*client.SolveResponse, error)
}

var _ solver = (*client.Client)(nil)

// Builder runs builds against one BuildKit daemon.
type Builder struct {
	solver   solver
	progress io.Writer
	session  []session.Attachable
	tls      *TLS
}

// Option configures a Builder.
type Option func(*Builder)

// WithProgress writes BuildKit's plain-text progress (every step and its
// output, including a failing command's own error) to w. Default: discarded.
func WithProgress(w io.Writer) Option {
	return func(b *Builder) { b.progress = w }
}

// WithSession replaces the session attachables sent to the daemon. Default:
// registry credentials from the Docker config ($DOCKER_CONFIG or ~/.docker).
func WithSession(a ...session.Attachable) Option {
	return func(b *Builder) { b.session = a }
}

// New connects to the BuildKit daemon at addr (unix://..., tcp://...).
// Close the returned closer when done.
func New(ctx context.Context, addr string, opts ...Option) (*Builder, io.Closer, error) {
	if addr == "" {
		return nil, nil, errors.New("buildkit address is empty")
	}
	b := newBuilder(nil, opts...)
	copts, err := b.tls.clientOpts()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(ctx, addr, copts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to buildkitd at %s: %w", addr, err)
	}
	b.solver = c
	return b, c, nil
}

func newBuilder(s solver, opts ...Option) *Builder {
	b := &Builder{solver: s, progress: io.Discard}
	b.session = []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(config.LoadDefaultConfigFile(io.Discard)),
	})}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Build builds and pushes req and returns the pushed reference and digest.
func (b *Builder) Build(ctx context.Context, req Request) (*Result, error) {
	opt, ref, err := solveOpt(req)
	if err != nil {
		return nil, err
	}
	opt.Session = b.session

	display, err := progressui.NewDisplay(b.progress, progressui.PlainMode)
	if err != nil {
		return nil, fmt.Errorf("progress display: %w", err)
	}
	ch := make(chan *client.SolveStatus)
	var resp *client.SolveResponse
	eg, egctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		var err error
		// Solve closes ch when it returns.
		resp, err = b.solver.Solve(egctx, nil, opt, ch)
		return err
	})
	eg.Go(func() error {
		// Not egctx: the display must drain ch until Solve closes it.
		_, err := display.UpdateFrom(context.WithoutCancel(ctx), ch)
		return err
	})
	if err := eg.Wait(); err != nil {
		return nil, fmt.Errorf("building %s: %w", ref, err)
	}
	d, err := digest.Parse(resp.ExporterResponse["containerimage.digest"])
	if err != nil {
		return nil, fmt.Errorf("building %s: buildkit returned no valid image digest: %w", ref, err)
	}
	return &Result{ImageURL: ref, Digest: d.String()}, nil
}

// solveOpt turns a request into BuildKit's solve options (everything but
// the session) and returns the image reference it pushes.
func solveOpt(req Request) (client.SolveOpt, string, error) {
	var opt client.SolveOpt
	if err := validate(req); err != nil {
		return opt, "", err
	}
	ctxDir, err := filepath.Abs(req.ContextDir)
	if err != nil {
		return opt, "", fmt.Errorf("context dir: %w", err)
	}
	dockerfile := req.Dockerfile
	if dockerfile == "" {
		dockerfile = filepath.Join(ctxDir, "Dockerfile")
	} else if !filepath.IsAbs(dockerfile) {
		// Relative to the working directory, like docker build -f.
		if dockerfile, err = filepath.Abs(dockerfile); err != nil {
			return opt, "", fmt.Errorf("dockerfile: %w", err)
		}
	}
	if fi, err := os.Stat(dockerfile); err != nil {
		return opt, "", fmt.Errorf("dockerfile: %w", err)
	} else if fi.IsDir() {
		return opt, "", fmt.Errorf("dockerfile %s is a directory", dockerfile)
	}
	ctxFS, err := fsutil.NewFS(ctxDir)
	if err != nil {
		return opt, "", fmt.Errorf("context dir %s: %w", ctxDir, err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(dockerfile))
	if err != nil {
		return opt, "", fmt.Errorf("dockerfile dir: %w", err)
	}

	ref := req.Image + ":" + req.Tag
	builderID := req.BuilderID
	if builderID == "" {
		builderID = DefaultBuilderID
	}
	created := req.Created
	if created.IsZero() {
		created = time.Now()
	}
	// mode=max puts the Dockerfile itself into the provenance (BuildKit's
	// metadata source infos): how an own Dockerfile travels with the image
	// (provenance.Statement.Dockerfile reads it back).
	attest := "mode=max,builder-id=" + builderID
	if req.ProvenanceVersion != "" {
		attest += ",version=" + req.ProvenanceVersion
	}
	attrs := map[string]string{
		"filename":          filepath.Base(dockerfile),
		"attest:provenance": attest,
		"vcs:source":        req.SourceURL,
		"vcs:revision":      req.Revision,
	}
	if req.SBOMGenerator != "" {
		attrs["attest:sbom"] = "generator=" + req.SBOMGenerator
	}
	args := maps.Clone(req.BuildArgs)
	if args == nil {
		args = map[string]string{}
	}
	args[ArgSource] = req.SourceURL
	args[ArgRevision] = req.Revision
	args[ArgCreated] = created.UTC().Format(time.RFC3339)
	for k, v := range args {
		attrs["build-arg:"+k] = v
	}
	for k, v := range Labels(req.SourceURL, req.Revision, req.Run, created) {
		attrs["label:"+k] = v
	}

	insecure := fmt.Sprint(req.Insecure)
	opt = client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports: []client.ExportEntry{{
			Type: client.ExporterImage,
			Attrs: map[string]string{
				"name":              ref,
				"push":              "true",
				"registry.insecure": insecure,
			},
		}},
	}
	if !req.NoCache {
		cacheRef := req.CacheRef
		if cacheRef == "" {
			cacheRef = req.Image + ":buildcache"
		}
		opt.CacheImports = []client.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{
			"ref": cacheRef, "registry.insecure": insecure,
		}}}
		for _, from := range req.CacheFrom {
			if from != "" && from != cacheRef {
				opt.CacheImports = append(opt.CacheImports, client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{
					"ref": from, "registry.insecure": insecure,
				}})
			}
		}
		opt.CacheExports = []client.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{
			"ref": cacheRef, "mode": "max", "registry.insecure": insecure,
		}}}
	}
	return opt, ref, nil
}

// Labels are the OCI labels of an image built from source at revision by
// run (left out when empty) at created.
func Labels(source, revision, run string, created time.Time) map[string]string {
	l := map[string]string{
		LabelSource:   source,
		LabelRevision: revision,
		LabelCreated:  created.UTC().Format(time.RFC3339),
	}
	if run != "" {
		l[LabelRun] = run
	}
	return l
}

func validate(req Request) error {
	var errs []error
	if req.ContextDir == "" {
		errs = append(errs, errors.New("context dir is required"))
	} else if fi, err := os.Stat(req.ContextDir); err != nil {
		errs = append(errs, fmt.Errorf("context dir: %w", err))
	} else if !fi.IsDir() {
		errs = append(errs, fmt.Errorf("context dir %s is not a directory", req.ContextDir))
	}
	if req.Image == "" {
		errs = append(errs, errors.New("image is required"))
	} else if _, err := name.NewRepository(req.Image); err != nil {
		errs = append(errs, fmt.Errorf("image %q is not a repository (give it without tag or digest): %w", req.Image, err))
	}
	for _, ref := range append([]string{req.CacheRef}, req.CacheFrom...) {
		if ref == "" {
			continue
		}
		if _, err := name.NewTag(ref); err != nil {
			errs = append(errs, fmt.Errorf("cache ref %q: %w", ref, err))
		}
	}
	if req.Tag == "" {
		errs = append(errs, errors.New("tag is required"))
	} else if _, err := name.NewTag("example.com/x:" + req.Tag); err != nil {
		errs = append(errs, fmt.Errorf("tag %q: %w", req.Tag, err))
	}
	if req.SourceURL == "" {
		errs = append(errs, errors.New("source URL is required (it goes into the provenance)"))
	}
	if req.Revision == "" {
		errs = append(errs, errors.New("revision is required (it goes into the provenance)"))
	}
	switch req.ProvenanceVersion {
	case "", "v1", "v0.2":
	default:
		errs = append(errs, fmt.Errorf("provenance version %q: want v1 or v0.2", req.ProvenanceVersion))
	}
	// attest:provenance is a CSV option list: a comma or quote would split it.
	if strings.ContainsAny(req.BuilderID, ",\"") {
		errs = append(errs, fmt.Errorf("builder id %q must not contain ',' or '\"'", req.BuilderID))
	}
	if req.SBOMGenerator != "" {
		// Also a CSV option list; BuildKit resolves the ref itself, so a
		// bad one would only fail after the whole build.
		if strings.ContainsAny(req.SBOMGenerator, ",\"") {
			errs = append(errs, fmt.Errorf("SBOM generator %q must not contain ',' or '\"'", req.SBOMGenerator))
		} else if _, err := name.ParseReference(req.SBOMGenerator); err != nil {
			errs = append(errs, fmt.Errorf("SBOM generator %q is not an image reference: %w", req.SBOMGenerator, err))
		}
	}
	for k := range req.BuildArgs {
		if strings.HasPrefix(k, "SLIPWAY_") {
			errs = append(errs, fmt.Errorf("build arg %s is reserved", k))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid build request: %w", errors.Join(errs...))
	}
	return nil
}
