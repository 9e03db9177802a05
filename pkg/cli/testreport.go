package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway-ci/slipway/pkg/testreport"
)

// NewTestReportCmd returns `slipway test-report`: the unit-test Task's
// helpers that turn a toolchain's results into JUnit and hand them to the
// server.
func NewTestReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test-report",
		Short: "Convert and collect unit-test reports (JUnit XML) in the unit-test step",
	}
	cmd.AddCommand(newTestReportGoCmd(), newTestReportCollectCmd())
	return cmd
}

func newTestReportGoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "go OUT.xml",
		Short: "Read `go test -json` on stdin, print it as go test -v would, write JUnit XML to OUT.xml",
		Long: `Read the output of ` + "`go test -json ./... 2>&1`" + ` on stdin, print the tests' own
output (what go test -v prints) so the step log reads as usual, and write
the results as JUnit XML to OUT.xml. Exits 1 when a test or a package failed,
or when the input held no test event at all (go test failed before testing),
so a pipe into this command fails the step exactly when go test did.`,
		Example:      `  go test -json ./... 2>&1 | slipway test-report go "$SLIPWAY_REPORTS/go-test.xml"`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := bufio.NewWriter(cmd.OutOrStdout())
			res, err := testreport.ConvertGoTest(cmd.InOrStdin(), out)
			if ferr := out.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			if err := writeJUnitFile(args[0], res.Report); err != nil {
				return err
			}
			if res.Failed {
				return &exitError{code: 1, err: errors.New("go test failed")}
			}
			return nil
		},
	}
}

func writeJUnitFile(path string, r *testreport.Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing the JUnit report: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing the JUnit report: %w", err)
	}
	w := bufio.NewWriter(f)
	err = testreport.WriteJUnit(w, r)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the JUnit report %s: %w", path, err)
	}
	return nil
}

func newTestReportCollectCmd() *cobra.Command {
	var (
		dirs     []string
		exitFile string
		failures int
	)
	cmd := &cobra.Command{
		Use:   "collect [ROOT]",
		Short: "Gather the JUnit reports under ROOT and print the summary the server stores",
		Long: `Gather JUnit XML reports: *.xml in each --dir, and Maven Surefire/Failsafe
(target/*-reports/TEST-*.xml) and Gradle (build/test-results/*/TEST-*.xml)
reports anywhere under ROOT (default: .). Print the counts, the first failed
tests, and one summary line the Slipway server reads from the step log.
A report that cannot be parsed is named on stderr; the others still count.

With --exit-code-file (the test step's exit code, written by Tekton), exit
with that code, so the Task fails when the tests did.`,
		Example:      `  slipway test-report collect --dir /slipway/reports --exit-code-file "$(steps.step-test.exitCode.path)" .`,
		Args:         cobra.MaximumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := "."
			if len(args) == 1 {
				root = args[0]
			}
			// Each --dir is read on its own: the reports volume is outside
			// the checkout.
			rep, files, problems := testreport.Gather(os.DirFS(root))
			for _, d := range dirs {
				if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
					continue
				}
				r, fs, ps := testreport.Gather(os.DirFS(d), ".")
				rep.Merge(r)
				for _, f := range fs {
					files = append(files, filepath.Join(d, f))
				}
				problems = append(problems, ps...)
			}
			for _, p := range problems {
				fmt.Fprintln(cmd.ErrOrStderr(), "slipway: test report:", p)
			}
			printCollected(cmd.OutOrStdout(), rep, files, failures)
			if err := testreport.WriteSummary(cmd.OutOrStdout(), rep); err != nil {
				return err
			}
			if exitFile == "" {
				return nil
			}
			code, err := readExitCode(exitFile)
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code: code, err: fmt.Errorf("the tests exited %d", code)}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&dirs, "dir", nil, "directory whose *.xml files are JUnit reports (repeatable)")
	cmd.Flags().StringVar(&exitFile, "exit-code-file", "", "file holding the test step's exit code; exit with it")
	cmd.Flags().IntVar(&failures, "show-failures", 10, "how many failed tests to list")
	return cmd
}

func printCollected(w io.Writer, rep *testreport.Report, files []string, n int) {
	if len(files) == 0 {
		fmt.Fprintln(w, "no test report found (see the README's test reports section for what Slipway reads)")
		return
	}
	c := rep.Counts()
	fmt.Fprintf(w, "test report: %d tests, %d failed, %d skipped, %d passed (from %d files)\n", c.Total, c.Failed, c.Skipped, c.Passed, len(files))
	for _, f := range rep.Failures(n) {
		fmt.Fprintf(w, "  FAIL %s %s\n", f.Suite, f.Name)
	}
	if c.Failed > n {
		fmt.Fprintf(w, "  … and %d more\n", c.Failed-n)
	}
}

func readExitCode(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading the test step's exit code: %w", err)
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || code < 0 || code > 255 {
		return 0, fmt.Errorf("the test step's exit code file %s holds %q, want 0-255", path, strings.TrimSpace(string(b)))
	}
	return code, nil
}
