package cli

import (
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/slipway-ci/slipway/pkg/depcache"
)

type cacheOptions struct {
	repo, context, salt, dir, maxSize string
	insecure                          bool
}

// NewCacheCmd returns `slipway cache`: the unit-test step's dependency
// cache, restored before the tests and saved after a trusted build's.
func NewCacheCmd() *cobra.Command {
	o := &cacheOptions{}
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Restore or save the unit-test step's dependency cache in the registry",
		Long: `The cache of a checkout is keyed by its dependency manifests (go.sum,
package-lock.json, requirements.txt, pom.xml, ...) and --salt (the build
image), and stored as <repo>:deps-HASH. restore unpacks it into --dir;
save packs --dir and pushes it, unless the restore found it (a key's
cache never changes). A checkout without manifests has no cache.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.repo, "repo", "", "registry repository of the app's caches, e.g. registry.local/apps/web/depcache (required)")
	pf.StringVar(&o.context, "context", ".", "the checkout whose manifests key the cache")
	pf.StringVar(&o.salt, "salt", "", "part of the key besides the manifests: the build image, so another toolchain never reads this one's compiled cache")
	pf.StringVar(&o.dir, "dir", "", "the cache directory (required)")
	pf.StringVar(&o.maxSize, "max-size", "2Gi", "largest cache restored or saved, packed or unpacked")
	pf.BoolVar(&o.insecure, "insecure", false, "the registry speaks plain HTTP")
	cmd.AddCommand(
		&cobra.Command{Use: "restore", Short: "Unpack the checkout's cache into --dir (a miss is not an error)", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, false) }},
		&cobra.Command{Use: "save", Short: "Push --dir as the checkout's cache, unless the restore found it", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, true) }},
	)
	return cmd
}

func (o *cacheOptions) store() (*depcache.Store, error) {
	if o.repo == "" || o.dir == "" {
		return nil, errors.New("--repo and --dir are required")
	}
	q, err := resource.ParseQuantity(o.maxSize)
	if err != nil || q.Value() <= 0 {
		return nil, fmt.Errorf("--max-size %q: want a positive size such as 2Gi", o.maxSize)
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(o.repo, nopts...)
	if err != nil {
		return nil, fmt.Errorf("--repo %q: %w", o.repo, err)
	}
	return &depcache.Store{Repo: repo, MaxBytes: q.Value(), Remote: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}}, nil
}

func (o *cacheOptions) run(cmd *cobra.Command, save bool) error {
	s, err := o.store()
	if err != nil {
		return err
	}
	key, err := depcache.Key(o.context, o.salt)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if key == "" {
		fmt.Fprintf(out, "slipway cache: no dependency manifest in %s, no cache\n", o.context)
		return nil
	}
	if !save {
		st, err := s.Restore(cmd.Context(), key, o.dir)
		if errors.Is(err, depcache.ErrMiss) {
			fmt.Fprintf(out, "slipway cache: miss %s:%s\n", o.repo, key)
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "slipway cache: restored %s (%d files, %s)\n", st.Ref, st.Files, mib(st.Bytes))
		return nil
	}
	if depcache.Hit(o.dir) {
		fmt.Fprintf(out, "slipway cache: %s:%s was restored, nothing to save\n", o.repo, key)
		return nil
	}
	st, err := s.Save(cmd.Context(), key, o.dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "slipway cache: saved %s (%d files, %s, %s packed)\n", st.Ref, st.Files, mib(st.Bytes), mib(st.Packed))
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
