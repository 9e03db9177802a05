package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-ci/slipway/pkg/api/client"
	"github.com/slipway-ci/slipway/pkg/api/wire"
)

// defaultNamespace is where `slipway serve` runs PipelineRuns unless told
// otherwise; a RUN given without a namespace is taken to be there.
const defaultNamespace = "slipway-builds"

// runArg is "namespace/name", or a bare name in the default namespace.
func runArg(s string) (string, error) {
	if !strings.Contains(s, "/") {
		s = defaultNamespace + "/" + s
	}
	ns, name, _ := strings.Cut(s, "/")
	if ns == "" || name == "" || strings.Contains(name, "/") {
		return "", &exitError{code: 2, err: fmt.Errorf("run %q: want NAME or NAMESPACE/NAME", s)}
	}
	return s, nil
}

// NewRunsCmd is `slipway runs`.
func NewRunsCmd() *cobra.Command {
	var f client.RunFilter
	cmd := &cobra.Command{Use: "runs", Short: "List the runs Slipway started, newest first", Args: cobra.NoArgs}
	o := addAPIFlags(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&f.Repo, "repo", "", "only this repository (owner/name)")
	fl.StringVar(&f.Ref, "ref", "", "only this ref (refs/heads/main)")
	fl.StringVar(&f.State, "state", "", "only in this state (pending, running, success, failure, canceled)")
	fl.IntVar(&f.MR, "mr", 0, "only of this merge request")
	fl.IntVar(&f.Limit, "limit", 50, "at most this many")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := o.validClient()
		if err != nil {
			return err
		}
		if err := checkLimit(f.Limit); err != nil {
			return err
		}
		runs, err := c.ListRuns(cmd.Context(), f)
		if err != nil {
			return err
		}
		if o.output == "json" {
			return writeJSON(cmd.OutOrStdout(), wire.List[wire.Run]{Items: runs})
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tREPO\tREF\tCOMMIT\tSTATE\tCREATED\tDURATION")
		for _, r := range runs {
			ref := strings.TrimPrefix(strings.TrimPrefix(r.Ref, "refs/heads/"), "refs/tags/")
			if r.MRNumber > 0 {
				ref = fmt.Sprintf("!%d", r.MRNumber)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Repo, dash(ref), dash(shortSHA(r.SHA)), r.State,
				r.CreatedAt.UTC().Format(time.RFC3339), dash(duration(r.StartedAt, r.FinishedAt)))
		}
		return tw.Flush()
	}
	return cmd
}

// NewEventsCmd is `slipway events`.
func NewEventsCmd() *cobra.Command {
	var f client.EventFilter
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List recorded webhook events, newest first, with what became of them",
		Long:  "List the webhook events Slipway recorded with their state (queued, dispatched, ignored, failed) and why: the answer to \"why didn't my push build?\".",
		Args:  cobra.NoArgs,
	}
	o := addAPIFlags(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&f.Repo, "repo", "", "only this repository (owner/name)")
	fl.StringVar(&f.State, "state", "", "only in this state (queued, dispatched, ignored, failed)")
	fl.IntVar(&f.Limit, "limit", 50, "at most this many")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := o.validClient()
		if err != nil {
			return err
		}
		if err := checkLimit(f.Limit); err != nil {
			return err
		}
		evs, err := c.ListEvents(cmd.Context(), f)
		if err != nil {
			return err
		}
		if o.output == "json" {
			return writeJSON(cmd.OutOrStdout(), wire.List[wire.Event]{Items: evs})
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRECEIVED\tDELIVERY\tREPO\tKIND\tREF\tCOMMIT\tSTATE\tREASON")
		for _, e := range evs {
			reason := e.Reason
			if e.LastError != "" {
				reason = fmt.Sprintf("%s (attempt %d: %s)", reason, e.Attempts, e.LastError)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.ReceivedAt.UTC().Format(time.RFC3339), e.Delivery, e.Repo, e.Kind,
				dash(e.Ref), dash(shortSHA(e.SHA)), e.State, dash(strings.TrimSpace(reason)))
		}
		return tw.Flush()
	}
	return cmd
}

// NewRerunCmd is `slipway rerun RUN`.
func NewRerunCmd() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "rerun RUN",
		Short: "Run the same repository, ref and commit again (developer and above)",
		Args:  cobra.ExactArgs(1),
	}
	o := addAPIFlags(cmd, false)
	cmd.Flags().StringVar(&key, "idempotency-key", "", "the same key (8-64 letters, digits, - or _) queues one re-run however often it is sent")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := runArg(args[0])
		if err != nil {
			return err
		}
		c, err := o.validClient()
		if err != nil {
			return err
		}
		res, err := c.Rerun(cmd.Context(), id, key)
		if err != nil {
			return err
		}
		if o.output == "json" {
			return writeJSON(cmd.OutOrStdout(), res)
		}
		if res.Duplicate {
			fmt.Fprintf(cmd.OutOrStdout(), "re-run of %s already queued as event %d\n", id, res.EventID)
			return nil
		}
		fmt.Fprintf(cmd.OutOrStdout(), "queued a re-run of %s as event %d\n", id, res.EventID)
		return nil
	}
	return cmd
}

// NewCancelCmd is `slipway cancel RUN`.
func NewCancelCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cancel RUN", Short: "Cancel a running run (developer and above)", Args: cobra.ExactArgs(1)}
	o := addAPIFlags(cmd, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := runArg(args[0])
		if err != nil {
			return err
		}
		c, err := o.validClient()
		if err != nil {
			return err
		}
		res, err := c.Cancel(cmd.Context(), id)
		if err != nil {
			return err
		}
		if o.output == "json" {
			return writeJSON(cmd.OutOrStdout(), res)
		}
		if res.Cancelled {
			fmt.Fprintf(cmd.OutOrStdout(), "cancelled %s\n", id)
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "%s had already finished\n", id)
		}
		return nil
	}
	return cmd
}

// NewLogsCmd is `slipway logs RUN [--follow]`.
func NewLogsCmd() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs RUN",
		Short: "Print the step logs of a run",
		Long: `Print the logs of a run's finished steps, each under a "==> task/step <==" line.
With --follow, print running steps' logs as they are written until the run
ends, then exit 1 unless it succeeded. -o json prints one JSON object per log
chunk ({"task","step","text","reset","truncated"}).`,
		Args: cobra.ExactArgs(1),
	}
	o := addAPIFlags(cmd, false)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the run until it ends")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := runArg(args[0])
		if err != nil {
			return err
		}
		c, err := o.validClient()
		if err != nil {
			return err
		}
		w := &logPrinter{w: cmd.OutOrStdout(), json: o.output == "json"}
		state, err := c.Logs(cmd.Context(), id, follow, w.print)
		if err != nil {
			return err
		}
		w.end()
		if follow && state != "succeeded" {
			return &exitError{code: 1, err: fmt.Errorf("run %s %s", id, state)}
		}
		return nil
	}
	return cmd
}

// logPrinter prints log chunks, with a header whenever the step changes
// (steps running side by side interleave).
type logPrinter struct {
	w      io.Writer
	json   bool
	cur    string
	midway bool // the last text did not end a line
}

func (p *logPrinter) print(ch client.LogChunk) error {
	if p.json {
		return writeJSONLine(p.w, ch)
	}
	key := ch.Task + "/" + ch.Step
	if key != p.cur {
		p.end()
		if _, err := fmt.Fprintf(p.w, "==> %s <==\n", key); err != nil {
			return err
		}
		if ch.Truncated {
			fmt.Fprintln(p.w, "[… earlier output cut: the server keeps the tail of each log]")
		}
		p.cur = key
	}
	if ch.Text == "" {
		return nil
	}
	_, err := io.WriteString(p.w, ch.Text)
	p.midway = !strings.HasSuffix(ch.Text, "\n")
	return err
}

// end finishes a last line left open, so the next header starts a line.
func (p *logPrinter) end() {
	if p.midway {
		fmt.Fprintln(p.w)
		p.midway = false
	}
}

func writeJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// validClient checks the shared flags and returns the API client.
func (o *apiOptions) validClient() (*client.Client, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o.client()
}

// checkLimit refuses a --limit the server would (the client leaves 0
// out, which would mean the server's default).
func checkLimit(n int) error {
	if n < 1 || n > 1000 {
		return &exitError{code: 2, err: fmt.Errorf("--limit %d: want 1 to 1000", n)}
	}
	return nil
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// duration is how long a run took (or has run, unfinished: empty).
func duration(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return ""
	}
	return end.Sub(start).Round(time.Second).String()
}
