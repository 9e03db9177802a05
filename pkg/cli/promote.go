package cli

import (
	"bytes"
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

	"github.com/slipway-ci/slipway/pkg/store"
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
	o := &apiOptions{http: &http.Client{Timeout: time.Minute}}
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

// apiError is an answer other than 2xx (and 422, which carries a refused
// promotion).
type apiError struct {
	Code    int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Code) }

// call sends body (if any) as JSON and decodes a JSON answer into out.
// 422 decodes too: a refused promotion is an answer, not an error.
func (o *apiOptions) call(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encoding request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(o.server, "/")+path, rd)
	if err != nil {
		return 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusUnprocessableEntity {
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(data))
		}
		return resp.StatusCode, &apiError{Code: resp.StatusCode, Message: m.Message}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// NewPromoteCmd is `slipway promote APP --to ENV` and `slipway promote --continue ID`.
func NewPromoteCmd() *cobra.Command {
	var from, to, digest string
	var cont int64
	cmd := &cobra.Command{
		Use:   "promote APP --to ENV | --continue ID",
		Short: "Promote an app's digest to the next environment, or continue a paused canary",
		Long: `Promote the digest running in --from (default: the environment before --to)
into --to. It is gated on the image's provenance, copied by digest and rolled
out cluster after cluster. Into an environment that needs approval a
developer's promotion waits for 'slipway approve ID'.

--continue ID moves a canary paused "manual" to its next step.`,
		Args: cobra.MaximumNArgs(1),
	}
	o := addAPIFlags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "target environment")
	f.StringVar(&from, "from", "", "source environment (default: the one before --to)")
	f.StringVar(&digest, "digest", "", "sha256:… to promote (default: the digest running in --from)")
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
			return &exitError{code: 2, err: errors.New("usage: slipway promote APP --to ENV [--from ENV] [--digest sha256:…]")}
		}
		body := map[string]string{"app": args[0], "to": to, "from": from, "digest": digest}
		return o.create(cmd, "/api/v1/promotions", body)
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
		return o.create(cmd, "/api/v1/apps/"+url.PathEscape(args[0])+"/rollback", map[string]string{"env": env})
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
		ctx := cmd.Context()
		if len(args) == 1 {
			var p store.Promotion
			if _, err := o.call(ctx, http.MethodGet, "/api/v1/promotions/"+url.PathEscape(args[0]), nil, &p); err != nil {
				return err
			}
			if o.wait {
				return o.follow(cmd, &p)
			}
			return o.printPromotions(cmd.OutOrStdout(), &p, []store.Promotion{p})
		}
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		for k, v := range map[string]string{"app": app, "to": to, "state": state} {
			if v != "" {
				q.Set(k, v)
			}
		}
		var l struct {
			Items []store.Promotion `json:"items"`
		}
		if _, err := o.call(ctx, http.MethodGet, "/api/v1/promotions?"+q.Encode(), nil, &l); err != nil {
			return err
		}
		return o.printPromotions(cmd.OutOrStdout(), l, l.Items)
	}
	return cmd
}

// NewAppCmd is `slipway app delete APP`.
func NewAppCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Manage apps"}
	del := &cobra.Command{
		Use:   "delete APP",
		Short: "Remove what Slipway deployed for APP in every environment (admin)",
		Args:  cobra.ExactArgs(1),
	}
	o := addAPIFlags(del, false)
	del.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.validate(); err != nil {
			return err
		}
		if _, err := o.call(cmd.Context(), http.MethodDelete, "/api/v1/apps/"+url.PathEscape(args[0]), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted %s from every environment\n", args[0])
		return nil
	}
	cmd.AddCommand(del)
	return cmd
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
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if app != "" {
			q.Set("app", app)
		}
		if actor != "" {
			q.Set("actor", actor)
		}
		if promotion > 0 {
			q.Set("promotion", strconv.FormatInt(promotion, 10))
		}
		var l struct {
			Items []store.AuditEntry `json:"items"`
		}
		if _, err := o.call(cmd.Context(), http.MethodGet, "/api/v1/audit?"+q.Encode(), nil, &l); err != nil {
			return err
		}
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

// create posts a new promotion (promote, rollback) and prints or follows it.
func (o *apiOptions) create(cmd *cobra.Command, path string, body any) error {
	var p store.Promotion
	if _, err := o.call(cmd.Context(), http.MethodPost, path, body, &p); err != nil {
		return err
	}
	if o.wait && !p.State.Terminal() {
		return o.follow(cmd, &p)
	}
	if err := o.printPromotions(cmd.OutOrStdout(), &p, []store.Promotion{p}); err != nil {
		return err
	}
	return outcome(&p, false)
}

// act posts approve/abort/continue for id.
func (o *apiOptions) act(cmd *cobra.Command, id int64, action string) error {
	var p store.Promotion
	if _, err := o.call(cmd.Context(), http.MethodPost, fmt.Sprintf("/api/v1/promotions/%d/%s", id, action), nil, &p); err != nil {
		return err
	}
	if o.wait && !p.State.Terminal() {
		return o.follow(cmd, &p)
	}
	return o.printPromotions(cmd.OutOrStdout(), &p, []store.Promotion{p})
}

// follow prints p's progress (to stderr) until it ends, then p itself.
func (o *apiOptions) follow(cmd *cobra.Command, p *store.Promotion) error {
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
		if p.State.Terminal() {
			break
		}
		select {
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		case <-time.After(o.poll):
		}
		if _, err := o.call(cmd.Context(), http.MethodGet, fmt.Sprintf("/api/v1/promotions/%d", p.ID), nil, p); err != nil {
			return err
		}
	}
	if err := o.printPromotions(cmd.OutOrStdout(), p, []store.Promotion{*p}); err != nil {
		return err
	}
	return outcome(p, true)
}

// outcome is the exit status: refused, failed and aborted are 1; with
// waited, anything but succeeded is.
func outcome(p *store.Promotion, waited bool) error {
	switch {
	case p.State == store.PromotionRefused, p.State == store.PromotionFailed, p.State == store.PromotionAborted:
		return &exitError{code: 1, err: fmt.Errorf("promotion %d %s: %s", p.ID, p.State, p.Reason)}
	case waited && p.State != store.PromotionSucceeded:
		return &exitError{code: 1, err: fmt.Errorf("promotion %d is %s", p.ID, p.State)}
	}
	return nil
}

func (o *apiOptions) printPromotions(w io.Writer, raw any, ps []store.Promotion) error {
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
