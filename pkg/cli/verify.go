package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/advisory"
	"github.com/slipway-ci/slipway/pkg/policy"
	"github.com/slipway-ci/slipway/pkg/provenance"
	"github.com/slipway-ci/slipway/pkg/sbom"
	"github.com/slipway-ci/slipway/pkg/signing"
)

// NewVerifyCmd returns `slipway verify`.
func NewVerifyCmd() *cobra.Command {
	o := &imageVerifyOptions{clock: clock.RealClock{}}
	cmd := &cobra.Command{
		Use:   "verify IMAGE --key PUB [--key PUB2] [--policy FILE --advisories DIR]",
		Short: "Check IMAGE's signature, provenance and (when asked) dependency policy; exit non-zero on any failure",
		Long: `Check what the promotion gate checks, from outside Slipway:

  signature   a cosign signature of IMAGE's digest by one of the --key public
              keys (several during a key rotation), naming the Slipway run,
              repo and commit that built it;
  provenance  the SLSA provenance BuildKit attached records that commit (and
              --repo and --builder when given; without --repo its source must
              end in the signed repo);
  policy      with --policy or --advisories, the image's SBOM against the
              dependency policy and the offline advisory feed.

Every check runs and prints its line, so one run shows everything wrong.
Exits 0 when all pass, 1 when one fails, 2 on bad usage (a key that cannot
be read, an invalid policy file), 3 when a check could not run (registry or
advisory feed unreadable).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args[0])
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.keys, "key", nil, "PEM public key file (cosign.pub); repeat for several (required)")
	f.StringVar(&o.repo, "repo", "", "expected source repository URL in the provenance")
	f.StringVar(&o.builder, "builder", "", "expected provenance builder id (not checked when empty)")
	f.StringVar(&o.policyFile, "policy", "", "dependency policy file (YAML)")
	f.StringVar(&o.advisories, "advisories", "", "directory of OSV advisory records (JSON)")
	f.StringVar(&o.team, "team", "", "apply this team's policy rules over the default")
	f.StringVar(&o.app, "app", "", "apply this app's policy rules (of --team) over the team's")
	f.BoolVar(&o.insecure, "insecure", false, "the registry speaks plain HTTP")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

type imageVerifyOptions struct {
	keys                   []string
	repo, builder          string
	policyFile, advisories string
	team, app              string
	insecure               bool
	clock                  clock.PassiveClock
}

// verifyTally names the checks that failed and those that could not run.
type verifyTally struct{ failed, errored []string }

func (o *imageVerifyOptions) run(cmd *cobra.Command, image string) error {
	keys, err := signing.LoadKeys(o.keys...)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	checkPolicy := o.policyFile != "" || o.advisories != ""
	rules := policy.Rules{}
	if o.policyFile != "" {
		pf, err := policy.Load(o.policyFile)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		rules = pf.For(o.team, o.app)
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(image, nopts...)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("image %q: %w", image, err)}
	}
	ctx := cmd.Context()
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	// One digest for every check, whatever a tag points at meanwhile.
	desc, err := remote.Head(ref, ropts...)
	if err != nil {
		return &exitError{code: 3, err: fmt.Errorf("resolving %s: %w", ref, err)}
	}
	dig := ref.Context().Digest(desc.Digest.String())
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "image:       %s\n", dig)
	var t verifyTally

	// Signature.
	v, err := signing.Verify(ctx, dig, keys, ropts...)
	var signed *signing.Claims
	switch {
	case signing.IsVerdict(err):
		t.fail(w, "signature", err.Error())
	case err != nil:
		t.couldNot(w, "signature", err.Error())
	default:
		signed = &v.Claims
		fmt.Fprintf(w, "signature:   OK    key %s, run %s, %s@%s\n", v.Key, orNone(v.Claims.RunID), orNone(v.Claims.Repo), orNone(v.Claims.Commit))
	}

	// Provenance, bound to the signed commit.
	st, err := provenance.Fetch(ctx, dig, ropts...)
	if err != nil {
		t.fail(w, "provenance", err.Error())
	} else {
		o.checkProvenance(w, st, signed, &t)
	}

	// Policy.
	if checkPolicy {
		o.checkPolicy(ctx, w, dig, rules, ropts, &t)
	}

	// A failed check is a verdict; it wins over one that could not run.
	switch {
	case len(t.failed) > 0:
		return &exitError{code: 1, err: fmt.Errorf("verify: %s failed", strings.Join(t.failed, ", "))}
	case len(t.errored) > 0:
		return &exitError{code: 3, err: fmt.Errorf("verify: %s could not be checked", strings.Join(t.errored, ", "))}
	}
	fmt.Fprintln(w, "verify OK")
	return nil
}

func (o *imageVerifyOptions) checkProvenance(w io.Writer, st *provenance.Statement, signed *signing.Claims, t *verifyTally) {
	srcRepo, commit := st.Source()
	want := provenance.Expectations{Repo: o.repo, Commit: commit, BuilderID: o.builder}
	if want.Repo == "" {
		want.Repo = srcRepo
	}
	var problems []string
	if signed != nil {
		want.Commit = signed.Commit
		if o.repo == "" && !sameRepoPath(srcRepo, signed.Repo) {
			problems = append(problems, fmt.Sprintf("source %s is not the signed repo %s", orNone(srcRepo), signed.Repo))
		}
	}
	if want.Commit == "" {
		problems = append(problems, "names no commit")
	} else if err := provenance.Verify(st, want); err != nil {
		var me *provenance.MismatchError
		if errors.As(err, &me) {
			for _, m := range me.Mismatches {
				problems = append(problems, fmt.Sprintf("%s: want %s, got %s", m.Field, m.Want, orNone(m.Got)))
			}
		} else {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		t.fail(w, "provenance", strings.Join(problems, "; "))
		return
	}
	fmt.Fprintf(w, "provenance:  OK    %s@%s, builder %s\n", srcRepo, commit, orNone(st.BuilderID()))
}

// sameRepoPath: clone URL https://host/acme/shop(.git) is repo acme/shop.
func sameRepoPath(cloneURL, repo string) bool {
	u := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(cloneURL), "/"), ".git")
	return repo != "" && (u == repo || strings.HasSuffix(u, "/"+repo) || path.Base(u) == repo)
}

func (o *imageVerifyOptions) checkPolicy(ctx context.Context, w io.Writer, dig name.Digest, rules policy.Rules, ropts []remote.Option, t *verifyTally) {
	var feed *advisory.Feed
	if o.advisories != "" {
		var err error
		if feed, err = advisory.LoadDir(o.advisories); err != nil {
			t.couldNot(w, "policy", err.Error())
			return
		}
	}
	// No readable SBOM is a failure, not a pass: the policy cannot be
	// shown to hold.
	pkgs, err := sbom.Fetch(ctx, dig, ropts...)
	if err != nil {
		t.fail(w, "policy", err.Error())
		return
	}
	res := policy.Evaluate(pkgs, rules, feed, o.clock.Now())
	if n := len(res.Violations); n > 0 {
		t.fail(w, "policy", fmt.Sprintf("%d violation(s) in %d packages:", n, len(pkgs)))
		_ = printResult(w, "table", res)
		return
	}
	fmt.Fprintf(w, "policy:      OK    %d packages\n", len(pkgs))
}

func (t *verifyTally) fail(w io.Writer, check, why string) {
	t.failed = append(t.failed, check)
	fmt.Fprintf(w, "%-12s FAIL  %s\n", check+":", why)
}

func (t *verifyTally) couldNot(w io.Writer, check, why string) {
	t.errored = append(t.errored, check)
	fmt.Fprintf(w, "%-12s ERROR %s\n", check+":", why)
}
