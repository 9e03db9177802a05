package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway-ci/slipway/pkg/api/client"
	"github.com/slipway-ci/slipway/pkg/api/wire"
)

// apiOptions are the flags every API command shares.
type apiOptions struct {
	server string
	token  string
	output string
	wait   bool
	poll   time.Duration
	http   *http.Client
}

func addAPIFlags(cmd *cobra.Command, wait bool) *apiOptions {
	// No overall timeout: logs --follow streams for as long as a build runs.
	o := &apiOptions{http: &http.Client{}}
	f := cmd.Flags()
	server := os.Getenv("SLIPWAY_SERVER")
	if server == "" {
		server = "http://localhost:8080"
	}
	f.StringVar(&o.server, "server", server, "Slipway URL (env SLIPWAY_SERVER)")
	f.StringVar(&o.token, "token", os.Getenv("SLIPWAY_TOKEN"), "API token (env SLIPWAY_TOKEN)")
	f.StringVarP(&o.output, "output", "o", "table", "table or json")
	if wait {
		f.BoolVar(&o.wait, "wait", false, "follow the promotion to its end; exit 1 unless it succeeds")
		f.DurationVar(&o.poll, "poll-interval", 2*time.Second, "how often --wait reads the promotion")
	}
	return o
}

func (o *apiOptions) validate() error {
	if o.output != "table" && o.output != "json" {
		return &exitError{code: 2, err: fmt.Errorf("--output %q: want table or json", o.output)}
	}
	if _, err := url.ParseRequestURI(o.server); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--server %q: %w", o.server, err)}
	}
	return nil
}

// client is the API client the flags describe.
func (o *apiOptions) client() (*client.Client, error) {
	c, err := client.New(o.server, client.WithToken(o.token), client.WithHTTPClient(o.http))
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("--server: %w", err)}
	}
	return c, nil
}

// NewPromoteCmd is `slipway promote APP --to ENV` and `slipway promote --continue ID`.
func NewPromoteCmd() *cobra.Command {
	var from, to, digest, override string
	var cont int64
	cmd := &cobra.Command{
		Use:   "promote APP --to ENV | --continue ID",
		Short: "Promote an app's digest to the next environment, or continue a paused canary",
		Long: `Promote the digest running in --from (default: the environment before --to)
into --to. It is gated on the image's provenance, copied by digest and rolled
out cluster after cluster. Into an environment that needs approval a
developer's promotion waits for 'slipway approve ID'. Into an environment
that re-checks the dependency policy, an image with a violation is refused;
an admin may pass it with --override-policy REASON (audited).

--continue ID moves a canary paused "manual" to its next step.`,
		Args: cobra.MaximumNArgs(1),
	}
	o := addAPIFlags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "target environment")
	f.StringVar(&from, "from", "", "source environment (default: the one before --to)")
	f.StringVar(&digest, "digest", "", "sha256:… to promote (default: the digest running in --from)")
	f.StringVar(&override, "override-policy", "", "admin only: promote although the dependency policy re-check refuses, for this reason (audited)")
	f.Int64Var(&cont, "continue", 0, "continue the paused rollout of this promotion")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.validate(); err != nil {
			return err
		}
		if cont != 0 {
			if len(args) > 0 || to != "" {
				return &exitError{code: 2, err: errors.New("--continue ID takes no app and no --to")}
			}
			return o.act(cmd, cont, "continue")
		}
		if len(args) != 1 || to == "" {
			return &exitError{code: 2, err: errors.New("usage: slipway promote APP --to ENV [--from ENV] [--digest sha256:…] [--override-policy REASON]")}
		}
		if cmd.Flags().Changed("override-policy") && strings.TrimSpace(override) == "" {
			return &exitError{code: 2, err: errors.New("--override-policy needs a reason")}
		}
		return o.create(cmd, func(ctx context.Context, c *client.Client) (*wire.Promotion, error) {
			return c.Promote(ctx, wire.PromoteRequest{App: args[0], To: to, From: from, Digest: digest, PolicyOverride: override})
		})
	}
	return cmd
}

// NewApproveCmd is `slipway approve ID`.
func NewApproveCmd() *cobra.Command {
	return idCmd("approve", "Approve a promotion that awaits a release manager", true)
}

// NewAbortCmd is `slipway abort ID`.
func NewAbortCmd() *cobra.Command {
	return idCmd("abort", "Abort a promotion; a rollout in progress rolls back", false)
}

func idCmd(action, short string, wait bool) *cobra.Command {
	cmd := &cobra.Command{Use: action + " ID", Short: short, Args: cobra.ExactArgs(1)}
	o := addAPIFlags(cmd, wait)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.validate(); err != nil {
			return err
		}
		id, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || id < 1 {
			return &exitError{code: 2, err: fmt.Errorf("promotion id %q: want a positive number", args[0])}
		}
		return o.act(cmd, id, action)
	}
	return cmd
}

// NewRollbackCmd is `slipway rollback APP --env ENV`.
func NewRollbackCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "rollback APP --env ENV",
		Short: "Bring back the previous digest of an app in an environment",
		Args:  cobra.ExactArgs(1),
	}
	o := addAPIFlags(cmd, true)
	cmd.Flags().StringVar(&env, "env", "", "environment (required)")
	_ = cmd.MarkFlagRequired("env")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.validate(); err != nil {
			return err
		}
		return o.create(cmd, func(ctx context.Context, c *client.Client) (*wire.Promotion, error) {
			return c.Rollback(ctx, args[0], env)
		})
	}
	return cmd
}

// NewPromotionsCmd is `slipway promotions [ID]`.
func NewPromotionsCmd() *cobra.Command {
	var app, to, state string
	var limit int
	cmd := &cobra.Command{
		Use:   "promotions [ID]",
		Short: "List promotions, newest first, or show one",
		Args:  cobra.MaximumNArgs(1),
	}
	o := addAPIFlags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&app, "app", "", "only this app")
	f.StringVar(&to, "to", "", "only into this environment")
	f.StringVar(&state, "state", "", "only in this state (awaiting-approval, queued, running, paused, succeeded, failed, refused, aborted)")
	f.IntVar(&limit, "limit", 50, "at most this many")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.validate(); err != nil {
			return err
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		if len(args) == 1 {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return &exitError{code: 2, err: fmt.Errorf("promotion id %q: want a positive number", args[0])}
			}
			p, err := c.GetPromotion(ctx, id)
			if err != nil {
				return err
			}
			if o.wait {
				return o.follow(cmd, c, p)
			}
			return o.printPromotions(cmd.OutOrStdout(), p, []wire.Promotion{*p})
		}
		if err := checkLimit(limit); err != nil {
			return err
		}
		ps, err := c.ListPromotions(ctx, client.PromotionFilter{App: app, To: to, State: state, Limit: limit})
		if err != nil {
			return err
		}
		return o.printPromotions(cmd.OutOrStdout(), wire.List[wire.Promotion]{Items: ps}, ps)
	}
	return cmd
}

// NewAppCmd is `slipway app delete APP [--dry-run]` and `slipway app
// removed`.
func NewAppCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Manage apps"}
	var dryRun bool
	del := &cobra.Command{
		Use:   "delete APP",
		Short: "Remove what Slipway deployed for APP in every environment and cluster (admin)",
		Long: `Deletes, through one deploy run per cluster of every environment, what
Slipway applied and created for APP, and forgets its deployment history;
its images stay in the registries. --dry-run deletes nothing and lists
what would go. APP may be one the release config no longer lists.`,
		Args: cobra.ExactArgs(1),
	}
	del.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted, delete nothing")
	o := addAPIFlags(del, false)
	del.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.validate(); err != nil {
			return err
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		r, err := c.RetireApp(cmd.Context(), args[0], dryRun)
		if r != nil {
			printRetirement(cmd.OutOrStdout(), r)
		}
		return err
	}
	removed := &cobra.Command{
		Use:   "removed",
		Short: "List apps removed from the release config whose deployments are still recorded",
		Args:  cobra.NoArgs,
	}
	ro := addAPIFlags(removed, false)
	removed.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := ro.validate(); err != nil {
			return err
		}
		c, err := ro.client()
		if err != nil {
			return err
		}
		apps, err := c.RemovedApps(cmd.Context())
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "APP\tENVIRONMENTS\tSTATE\tERROR")
		for _, a := range apps {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.App, strings.Join(a.Environments, ","), a.State, a.Error)
		}
		return w.Flush()
	}
	cmd.AddCommand(del, removed)
	return cmd
}

// NewOrphansCmd is `slipway orphans`.
func NewOrphansCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "orphans",
		Short: "List objects labelled slipway.dev/app that no app of the release config claims (release manager)",
		Long: `Starts one orphans deploy run per cluster and namespace of every
environment (the server does not read the apps' namespaces itself) and
prints what each found: objects labelled for an app the release config
does not list. Nothing is changed; delete them with slipway app delete APP.`,
		Args: cobra.NoArgs,
	}
	o := addAPIFlags(cmd, false)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.validate(); err != nil {
			return err
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		r, err := c.Orphans(cmd.Context())
		if r != nil {
			printClusters(cmd.OutOrStdout(), r.Clusters, "not claimed", "none")
		}
		return err
	}
	return cmd
}

// printRetirement writes one block per cluster: what went (or would).
func printRetirement(out io.Writer, r *wire.Retirement) {
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	printClusters(out, r.Clusters, verb, "nothing to delete")
	if !r.DryRun && !failed(r) {
		fmt.Fprintf(out, "deleted %s from every environment\n", r.App)
	}
}

// printClusters writes what each cluster's run listed under heading, or
// none when it listed nothing.
func printClusters(out io.Writer, cs []wire.RetiredCluster, heading, none string) {
	for _, c := range cs {
		switch {
		case c.Error != "":
			fmt.Fprintf(out, "%s/%s (%s): FAILED: %s\n", c.Env, c.Cluster, c.Namespace, c.Error)
		case len(c.Objects) == 0:
			fmt.Fprintf(out, "%s/%s (%s): %s\n", c.Env, c.Cluster, c.Namespace, none)
		default:
			fmt.Fprintf(out, "%s/%s (%s): %s\n", c.Env, c.Cluster, c.Namespace, heading)
			for _, o := range c.Objects {
				fmt.Fprintf(out, "  %s\n", o)
			}
		}
	}
}

func failed(r *wire.Retirement) bool {
	for _, c := range r.Clusters {
		if c.Error != "" {
			return true
		}
	}
	return false
}

// NewAuditCmd is `slipway audit`.
func NewAuditCmd() *cobra.Command {
	var app, actor string
	var promotion int64
	var limit int
	cmd := &cobra.Command{Use: "audit", Short: "Show the audit log, newest first", Args: cobra.NoArgs}
	o := addAPIFlags(cmd, false)
	f := cmd.Flags()
	f.StringVar(&app, "app", "", "only this app")
	f.StringVar(&actor, "actor", "", "only this person (or slipway)")
	f.Int64Var(&promotion, "promotion", 0, "only this promotion")
	f.IntVar(&limit, "limit", 50, "at most this many")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.validate(); err != nil {
			return err
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		if err := checkLimit(limit); err != nil {
			return err
		}
		es, err := c.Audit(cmd.Context(), client.AuditFilter{App: app, Actor: actor, PromotionID: promotion, Limit: limit})
		if err != nil {
			return err
		}
		l := wire.List[wire.AuditEntry]{Items: es}
		if o.output == "json" {
			return writeJSON(cmd.OutOrStdout(), l)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tACTOR\tROLE\tACTION\tAPP\tENV\tDIGEST\tPROMOTION\tRESULT")
		for _, e := range l.Items {
			env := e.To
			if e.From != "" && e.From != e.To {
				env = e.From + "→" + e.To
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.Actor, dash(e.Role), e.Action,
				dash(e.App), dash(env), dash(shortDigest(e.Digest)), dash(idString(e.PromotionID)), e.Result)
		}
		return tw.Flush()
	}
	return cmd
}

// create asks for a new promotion (promote, rollback) and prints or
// follows it.
func (o *apiOptions) create(cmd *cobra.Command, ask func(context.Context, *client.Client) (*wire.Promotion, error)) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	p, err := ask(cmd.Context(), c)
	if err != nil {
		return err
	}
	if o.wait && !p.Terminal() {
		return o.follow(cmd, c, p)
	}
	if err := o.printPromotions(cmd.OutOrStdout(), p, []wire.Promotion{*p}); err != nil {
		return err
	}
	return outcome(p, false)
}

// act posts approve/abort/continue for id.
func (o *apiOptions) act(cmd *cobra.Command, id int64, action string) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	do := map[string]func(context.Context, int64) (*wire.Promotion, error){"approve": c.Approve, "abort": c.Abort, "continue": c.Continue}[action]
	p, err := do(cmd.Context(), id)
	if err != nil {
		return err
	}
	if o.wait && !p.Terminal() {
		return o.follow(cmd, c, p)
	}
	return o.printPromotions(cmd.OutOrStdout(), p, []wire.Promotion{*p})
}

// follow prints p's progress (to stderr) until it ends, then p itself.
func (o *apiOptions) follow(cmd *cobra.Command, c *client.Client, p *wire.Promotion) error {
	last := ""
	for {
		line := fmt.Sprintf("promotion %d: %s", p.ID, p.State)
		if p.Progress != "" {
			line += ": " + p.Progress
		}
		if line != last {
			fmt.Fprintln(cmd.ErrOrStderr(), line)
			last = line
		}
		if p.Terminal() {
			break
		}
		select {
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		case <-time.After(o.poll):
		}
		next, err := c.GetPromotion(cmd.Context(), p.ID)
		if err != nil {
			return err
		}
		p = next
	}
	if err := o.printPromotions(cmd.OutOrStdout(), p, []wire.Promotion{*p}); err != nil {
		return err
	}
	return outcome(p, true)
}

// outcome is the exit status: refused, failed and aborted are 1; with
// waited, anything but succeeded is.
func outcome(p *wire.Promotion, waited bool) error {
	switch {
	case p.State == wire.PromotionRefused, p.State == wire.PromotionFailed, p.State == wire.PromotionAborted:
		return &exitError{code: 1, err: fmt.Errorf("promotion %d %s: %s", p.ID, p.State, p.Reason)}
	case waited && p.State != wire.PromotionSucceeded:
		return &exitError{code: 1, err: fmt.Errorf("promotion %d is %s", p.ID, p.State)}
	}
	return nil
}

func (o *apiOptions) printPromotions(w io.Writer, raw any, ps []wire.Promotion) error {
	if o.output == "json" {
		return writeJSON(w, raw)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tAPP\tENV\tDIGEST\tSTATE\tBY\tDETAIL")
	for _, p := range ps {
		env := p.To
		if p.From != "" && p.From != p.To {
			env = p.From + "→" + p.To
		}
		by := p.RequestedBy
		if p.ApprovedBy != "" {
			by += " (approved: " + p.ApprovedBy + ")"
		}
		detail := p.Progress
		if p.Reason != "" {
			detail = p.Reason
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Kind, p.App, env, shortDigest(p.Digest), p.State, by, dash(detail))
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// shortDigest is sha256: and 12 hex, like image tools print.
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

func idString(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
