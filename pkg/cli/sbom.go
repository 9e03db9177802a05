package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/slipway-ci/slipway/pkg/sbom"
)

// NewSBOMCmd returns `slipway sbom IMAGE`.
func NewSBOMCmd() *cobra.Command {
	var (
		output   string
		insecure bool
	)
	cmd := &cobra.Command{
		Use:   "sbom IMAGE",
		Short: "Print the packages of the SPDX SBOM BuildKit attached to IMAGE",
		Long: `Fetch the SPDX SBOM attestation of IMAGE (a tag or digest of an image index
built with attest:sbom) and print its packages: ecosystem, name, version,
license and purl.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return &exitError{code: 2, err: fmt.Errorf("--output %q: want table or json", output)}
			}
			pkgs, err := fetchSBOM(cmd, args[0], insecure)
			if err != nil {
				return err
			}
			return printPackages(cmd.OutOrStdout(), output, pkgs)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "the registry speaks plain HTTP")
	return cmd
}

func fetchSBOM(cmd *cobra.Command, image string, insecure bool) ([]sbom.Package, error) {
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(image, nopts...)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("image %q: %w", image, err)}
	}
	return sbom.Fetch(cmd.Context(), ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
}

// readSBOMFile reads a local SPDX JSON document or in-toto SPDX statement.
func readSBOMFile(path string) ([]sbom.Package, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading SBOM: %w", err)
	}
	pkgs, err := sbom.ParseStatement(data)
	if err != nil {
		var err2 error
		if pkgs, err2 = sbom.ParseSPDX(data); err2 != nil {
			return nil, fmt.Errorf("%s: neither an SPDX statement (%w) nor an SPDX document (%w)", path, err, err2)
		}
	}
	return pkgs, nil
}

func printPackages(w io.Writer, output string, pkgs []sbom.Package) error {
	if output == "json" {
		if pkgs == nil {
			pkgs = []sbom.Package{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(pkgs)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ECOSYSTEM\tNAME\tVERSION\tLICENSE\tPURL")
	for _, p := range pkgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dash(p.Ecosystem), p.Name, dash(p.Version), dash(p.License), dash(p.PURL))
	}
	return tw.Flush()
}
