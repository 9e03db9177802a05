package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/slipway-ci/slipway/pkg/provenance"
)

// NewProvenanceCmd returns `slipway provenance` with its `verify` subcommand.
func NewProvenanceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "provenance",
		Short: "Read and check the SLSA provenance BuildKit attached to an image",
	}
	cmd.AddCommand(newProvenanceVerifyCmd())
	return cmd
}

type verifyOptions struct {
	want           provenance.Expectations
	insecure       bool
	showDockerfile bool
}

func newProvenanceVerifyCmd() *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify IMAGE",
		Short: "Check that IMAGE was built from --repo at --commit (by --builder)",
		Long: `Fetch the SLSA provenance of IMAGE (a tag or digest of an image index pushed
by BuildKit), print a summary, and fail listing each field that does not match.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.want.Repo, "repo", "", "expected source repository URL (required)")
	f.StringVar(&o.want.Commit, "commit", "", "expected full commit SHA (required)")
	f.StringVar(&o.want.BuilderID, "builder", "", "expected builder id (not checked when empty)")
	f.BoolVar(&o.insecure, "insecure", false, "the registry speaks plain HTTP")
	f.BoolVar(&o.showDockerfile, "show-dockerfile", false, "print the Dockerfile the image was built from (recorded in the provenance)")
	_ = cmd.MarkFlagRequired("repo")
	_ = cmd.MarkFlagRequired("commit")
	return cmd
}

func (o *verifyOptions) run(cmd *cobra.Command, image string) error {
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(image, nopts...)
	if err != nil {
		return fmt.Errorf("image %q: %w", image, err)
	}
	st, err := provenance.Fetch(cmd.Context(), ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return err
	}
	printSummary(cmd.OutOrStdout(), ref, st)
	if o.showDockerfile {
		if _, df, ok := st.Dockerfile(); ok {
			fmt.Fprintf(cmd.OutOrStdout(), "--- Dockerfile ---\n%s", df)
			if len(df) > 0 && df[len(df)-1] != '\n' {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			fmt.Fprintln(cmd.OutOrStdout(), "---")
		}
	}
	if err := provenance.Verify(st, o.want); err != nil {
		var me *provenance.MismatchError
		if errors.As(err, &me) {
			for _, m := range me.Mismatches {
				fmt.Fprintf(cmd.ErrOrStderr(), "MISMATCH %s: want %s, got %s\n", m.Field, m.Want, orNone(m.Got))
			}
		}
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), "provenance OK")
	return nil
}

func printSummary(w io.Writer, ref name.Reference, st *provenance.Statement) {
	repo, rev := st.Source()
	fmt.Fprintf(w, "image:      %s\n", ref)
	fmt.Fprintf(w, "predicate:  %s\n", st.PredicateType)
	fmt.Fprintf(w, "subjects:   %v\n", st.SubjectDigests())
	fmt.Fprintf(w, "builder:    %s\n", orNone(st.BuilderID()))
	fmt.Fprintf(w, "source:     %s\n", orNone(repo))
	fmt.Fprintf(w, "revision:   %s\n", orNone(rev))
	if n, df, ok := st.Dockerfile(); ok {
		fmt.Fprintf(w, "dockerfile: %s (%d lines; --show-dockerfile prints it)\n", n, strings.Count(strings.TrimRight(string(df), "\n"), "\n")+1)
	} else {
		fmt.Fprintln(w, "dockerfile: (none recorded)")
	}
	for _, m := range st.Materials() {
		fmt.Fprintf(w, "material:   %s\n", m.URI)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
