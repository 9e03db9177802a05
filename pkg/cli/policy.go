package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/advisory"
	"github.com/slipway-ci/slipway/pkg/policy"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/sbom"
)

// NewPolicyCmd returns `slipway policy` with its `check` subcommand.
func NewPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check an image's dependencies against the dependency policy",
	}
	cmd.AddCommand(newPolicyCheckCmd(clock.RealClock{}))
	return cmd
}

type policyCheckOptions struct {
	policyFile, advisories, sbomFile string
	team, app, output                string
	// result is the file the CI policy step's Task result is written to
	// (run.PolicyCheck JSON, bounded).
	result   string
	noPolicy bool
	insecure bool
	clock    clock.PassiveClock
}

func newPolicyCheckCmd(clk clock.PassiveClock) *cobra.Command {
	o := &policyCheckOptions{clock: clk}
	cmd := &cobra.Command{
		Use:   "check [IMAGE]",
		Short: "Evaluate IMAGE's SBOM against the policy and advisory feed; exit 1 on any violation",
		Long: `Read the SPDX SBOM attached to IMAGE (or the file given by --sbom), merge the
policy's rules for --team and --app over its default, and print every
violation: package, version, rule or advisory id, severity and the fixed
version when known. Exits 1 when there is a violation, 2 on bad usage or an
invalid policy file, 3 when the check could not run (advisory feed, SBOM or
registry unreadable). Without --policy the built-in default applies (any
advisory of any severity is a violation); without --advisories only denied
packages and licenses are checked.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.policyFile, "policy", "", "policy file (YAML)")
	f.StringVar(&o.advisories, "advisories", "", "directory of OSV advisory records (JSON)")
	f.StringVar(&o.sbomFile, "sbom", "", "read the SBOM from this SPDX JSON file instead of the image")
	f.StringVar(&o.team, "team", "", "apply this team's rules over the default")
	f.StringVar(&o.app, "app", "", "apply this app's rules (of --team) over the team's")
	f.StringVarP(&o.output, "output", "o", "table", "table or json")
	f.StringVar(&o.result, "result", "", "also write the outcome as bounded JSON to this file (the CI policy step's Task result)")
	f.BoolVar(&o.noPolicy, "no-policy", false, "the platform configures no policy: check nothing, record \"no policy\" in --result and exit 0")
	f.BoolVar(&o.insecure, "insecure", false, "the registry speaks plain HTTP")
	return cmd
}

func (o *policyCheckOptions) run(cmd *cobra.Command, args []string) error {
	if o.output != "table" && o.output != "json" {
		return &exitError{code: 2, err: fmt.Errorf("--output %q: want table or json", o.output)}
	}
	if (len(args) == 1) == (o.sbomFile != "") {
		return &exitError{code: 2, err: fmt.Errorf("give either IMAGE or --sbom FILE")}
	}
	if o.noPolicy {
		if o.policyFile != "" {
			return &exitError{code: 2, err: fmt.Errorf("--no-policy and --policy exclude each other")}
		}
		fmt.Fprintln(cmd.OutOrStdout(), "no dependency policy configured: nothing checked")
		return o.writeResult(run.PolicyCheck{Outcome: run.PolicyNone})
	}
	rules := policy.Rules{}
	if o.policyFile != "" {
		pf, err := policy.Load(o.policyFile)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		rules = pf.For(o.team, o.app)
	}
	var feed *advisory.Feed
	if o.advisories != "" {
		var err error
		if feed, err = advisory.LoadDir(o.advisories); err != nil {
			return &exitError{code: 3, err: err}
		}
	}
	var pkgs []sbom.Package
	var err error
	if o.sbomFile != "" {
		pkgs, err = readSBOMFile(o.sbomFile)
	} else {
		pkgs, err = fetchSBOM(cmd, args[0], o.insecure)
	}
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return &exitError{code: 3, err: err}
	}
	res := policy.Evaluate(pkgs, rules, feed, o.clock.Now())
	if err := printResult(cmd.OutOrStdout(), o.output, res); err != nil {
		return err
	}
	if err := o.writeResult(policy.Check(res, len(pkgs))); err != nil {
		return err
	}
	if n := len(res.Violations); n > 0 {
		return &exitError{code: 1, err: fmt.Errorf("dependency policy: %d violation(s) in %d package(s)", n, len(pkgs))}
	}
	if o.output == "table" {
		fmt.Fprintf(cmd.OutOrStdout(), "dependency policy OK (%d packages)\n", len(pkgs))
	}
	return nil
}

// writeResult writes c as compact JSON to --result, when given. The
// pipeline's verdict step matches "outcome":"failed" in it.
func (o *policyCheckOptions) writeResult(c run.PolicyCheck) error {
	if o.result == "" {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return &exitError{code: 3, err: fmt.Errorf("encoding the policy result: %w", err)}
	}
	if err := os.WriteFile(o.result, b, 0o644); err != nil {
		return &exitError{code: 3, err: fmt.Errorf("writing the policy result: %w", err)}
	}
	return nil
}

func printResult(w io.Writer, output string, res policy.Result) error {
	if output == "json" {
		if res.Violations == nil {
			res.Violations = []policy.Violation{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(res.Violations) > 0 {
		fmt.Fprintln(tw, "PACKAGE\tVERSION\tRULE\tID\tSEVERITY\tFIXED\tDETAIL")
		for _, v := range res.Violations {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Package.Name, dash(v.Package.Version), v.Rule, v.ID, dash(v.Severity), dash(v.Fixed), v.Detail)
		}
	}
	for _, v := range res.Ignored {
		fmt.Fprintf(tw, "ignored\t%s\t%s\t%s\t%s\t%s\n", v.Package.Name, v.Package.Version, v.ID, v.Severity, v.Detail)
	}
	return tw.Flush()
}
