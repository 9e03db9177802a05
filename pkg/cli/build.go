package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-ci/slipway/pkg/build"
)

type buildOptions struct {
	addr         string
	tlsDir       string
	req          build.Request
	buildArgs    []string
	created      string
	resultURL    string
	resultDigest string
}

// NewBuildCmd returns `slipway build`: build a Dockerfile context on a
// BuildKit daemon, push it with SLSA provenance, and write the Tekton
// results IMAGE_URL and IMAGE_DIGEST.
func NewBuildCmd() *cobra.Command {
	o := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build and push an image with BuildKit, with SLSA provenance and an SBOM",
		Long: `Build the context with the BuildKit daemon at --addr (default $BUILDKIT_HOST),
push <image>:<tag> with a SLSA provenance attestation (mode=max) recording
--source and --revision, attach an SPDX SBOM made by the --sbom-generator
image when one is given, use <image>:buildcache as registry cache, and
write the pushed reference and index digest to the result files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", os.Getenv("BUILDKIT_HOST"), "BuildKit daemon address (unix://... or tcp://...)")
	f.StringVar(&o.tlsDir, "tls-dir", os.Getenv("BUILDKIT_TLS_DIR"), "directory with ca.crt, tls.crt and tls.key (a Kubernetes TLS Secret) for a buildkitd that requires mutual TLS; empty: plain")
	f.StringVar(&o.req.ContextDir, "context", ".", "build context directory")
	f.StringVarP(&o.req.Dockerfile, "file", "f", "", "Dockerfile path (default <context>/Dockerfile)")
	f.StringVar(&o.req.Image, "image", "", "image repository to push, without tag (required)")
	f.StringVar(&o.req.Tag, "tag", "", "image tag (required)")
	f.StringVar(&o.req.SourceURL, "source", "", "source repository URL recorded in provenance and labels (required)")
	f.StringVar(&o.req.Revision, "revision", "", "full commit SHA recorded in provenance and labels (required)")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "extra build argument KEY=VALUE (repeatable)")
	f.StringVar(&o.created, "created", "", "image creation time, RFC 3339 or unix seconds (the clone task's committer-date; default now)")
	f.StringVar(&o.req.Run, "run", "", "the Slipway run (namespace/name) recorded in the slipway.dev/run label")
	f.StringVar(&o.req.BuilderID, "builder-id", build.DefaultBuilderID, "provenance builder.id")
	f.StringVar(&o.req.SBOMGenerator, "sbom-generator", "", "image BuildKit runs to attach an SPDX SBOM attestation (attest:sbom generator=); empty: no SBOM")
	f.StringVar(&o.req.CacheRef, "cache-ref", "", "registry cache image (default <image>:buildcache)")
	f.StringArrayVar(&o.req.CacheFrom, "cache-from", nil, "another registry cache to import read-only, never exported to (repeatable; empty values are skipped)")
	f.BoolVar(&o.req.NoCache, "no-cache", false, "do not import or export the registry cache")
	f.BoolVar(&o.req.Insecure, "insecure", false, "the registry speaks plain HTTP")
	f.StringVar(&o.resultURL, "result-image-url", "", "file to write the pushed repo:tag to (Tekton result IMAGE_URL)")
	f.StringVar(&o.resultDigest, "result-image-digest", "", "file to write the pushed digest to (Tekton result IMAGE_DIGEST)")
	return cmd
}

func (o *buildOptions) run(cmd *cobra.Command) error {
	if o.addr == "" {
		return fmt.Errorf("--addr or BUILDKIT_HOST is required")
	}
	o.req.BuildArgs = map[string]string{}
	for _, a := range o.buildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return fmt.Errorf("--build-arg %q: want KEY=VALUE", a)
		}
		o.req.BuildArgs[k] = v
	}
	if o.created != "" {
		t, err := parseCreated(o.created)
		if err != nil {
			return err
		}
		o.req.Created = t
	}
	opts := []build.Option{build.WithProgress(cmd.ErrOrStderr())}
	if o.tlsDir != "" {
		t, err := build.TLSFromDir(o.tlsDir, o.addr)
		if err != nil {
			return err
		}
		opts = append(opts, build.WithTLS(t))
	}
	ctx := cmd.Context()
	b, closer, err := build.New(ctx, o.addr, opts...)
	if err != nil {
		return err
	}
	defer closer.Close()
	res, err := b.Build(ctx, o.req)
	if err != nil {
		return err
	}
	for path, v := range map[string]string{o.resultURL: res.ImageURL, o.resultDigest: res.Digest} {
		if path == "" {
			continue
		}
		// No trailing newline: Tekton results are compared verbatim.
		if err := os.WriteFile(path, []byte(v), 0o644); err != nil { //nolint:gosec // Tekton may read results from another container
			return fmt.Errorf("writing result: %w", err)
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pushed %s@%s\n", res.ImageURL, res.Digest)
	return nil
}

// parseCreated accepts RFC 3339 or unix seconds, so the pipeline can pass
// the commit's committer date and rebuilds of one commit get one date.
func parseCreated(s string) (time.Time, error) {
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--created %q: want RFC 3339 or unix seconds", s)
	}
	return t, nil
}
