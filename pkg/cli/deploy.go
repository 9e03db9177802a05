package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/pkg/deploy"
	"github.com/slipway-ci/slipway/pkg/manifest"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/rollout"
)

type deployOptions struct {
	spec          deploy.Spec
	strategy      string
	kubeconfig    string
	steps         []int
	prometheusURL string
	analysis      []string
	poll          time.Duration
	pause         string
	outcomeFile   string
	reasonFile    string
	objectsFile   string
	orphans       bool
	claimed       []string
	removeCanary  bool
	deleteApp     bool
	mode          rollout.Mode
	// source is the app's repository checked out at the promoted commit.
	source string
}

// NewDeployCmd returns `slipway deploy`: one rollout, rolled back by itself
// on failure. It exits 1 with the reason when it rolled back, 2 on bad flags.
func NewDeployCmd() *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Roll out an image digest (rolling, bluegreen or canary) and roll back on failure",
		Long: `Roll out --image (REPO@sha256:…, never a tag) to --app in --namespace.

rolling    sets the image on Deployment APP, waits for the rollout, restores the
           previous pod template on failure.
bluegreen  deploys to the idle one of APP-blue / APP-green, waits until ready,
           fetches --smoke-url, moves Service APP's slipway.dev/color selector,
           keeps the old colour for --scale-down-delay (switching back if the
           new one fails meanwhile), then scales it to zero.
canary     runs APP-canary beside Deployment APP behind the same Service at each
           of --steps percent of its replicas, analysing it for --pause per
           step (readiness, restarts, crash loops, --analysis queries); then the
           stable Deployment takes the image and the canary is removed. On
           failure only the canary is removed. --pause manual waits at every
           step for a continue signal (annotation slipway.dev/continue on
           Deployment APP); --http-route / --nginx-ingress weight the traffic
           through Service APP-canary instead of by pod count.

Any strategy rolls back when annotation slipway.dev/abort is set on
Deployment APP (blue-green: Service APP) while it waits; the progress is kept
in annotation slipway.dev/rollout-progress. With --run-namespace the same
annotations on the deploy PipelineRun named --rollout-id (in the cluster the
pod runs in) steer it too and receive its progress: that is how the server
signals a rollout without reaching the target cluster. --outcome-file
receives succeeded, rolled-back or aborted, --reason-file why (Tekton results).

With --source (the app's repository checked out at the promoted commit)
whose .slipway.yaml names manifests (a Kustomize base, overlays/ENV for
--environment), the manifests are rendered with the digest, applied
server-side (field manager slipway) and recorded in the applied set
(ConfigMap slipway-applyset-APP); the strategy then rolls the image out on
their Deployment APP (the first promotion creates it), and objects an
earlier apply made that the manifests no longer hold are pruned. Without
manifests the image of an existing Deployment is swapped.

--remove-canary removes the canary (and its traffic share) a killed canary
rollout left; --delete-app deletes what Slipway applied and created for the app (with
--dry-run it lists it and deletes nothing). Both
need only --namespace and --app (and the canary's --http-route or
--nginx-ingress); the server starts them as deploy PipelineRuns, so only
deploy pods change workloads. --orphans (--namespace and --claimed only)
lists the objects labelled for an app that no claimed app owns.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(); err != nil {
				return &exitError{code: 2, err: err}
			}
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.strategy, "strategy", "rolling", "rolling, bluegreen or canary")
	f.StringVar(&o.spec.Image, "image", "", "image to deploy, REPO@sha256:… (required)")
	f.StringVarP(&o.spec.Namespace, "namespace", "n", "", "namespace of the app (required)")
	f.StringVar(&o.spec.App, "app", "", "Deployment/Service name of the app (required)")
	f.StringVar(&o.spec.RolloutID, "rollout-id", "", "names this rollout (the deploy PipelineRun): an abort signalled for it before it started stops it instead of being cleared as stale")
	f.StringVar(&o.spec.Container, "container", "", "container to update (default: the first)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG / ~/.kube/config)")
	f.DurationVar(&o.spec.ProgressDeadline, "progress-deadline", 10*time.Minute, "longest wait for a Deployment to become ready")
	f.IntSliceVar(&o.steps, "steps", []int{10, 50, 100}, "canary sizes in percent of the stable replicas")
	f.StringVar(&o.pause, "pause", "30s", `canary analysis time per step, or "manual": wait for a continue signal`)
	f.Int32Var(&o.spec.Analysis.MaxRestarts, "max-restarts", 0, "container restarts of the new pods tolerated (every strategy)")
	f.StringVar(&o.prometheusURL, "prometheus-url", "", "Prometheus base URL for --analysis queries")
	f.StringArrayVar(&o.analysis, "analysis", nil, `canary threshold "NAME=PROMQL<=MAX" or "NAME=PROMQL>=MIN" (repeatable)`)
	f.StringVar(&o.spec.SmokeURL, "smoke-url", "", "bluegreen: URL that must answer 2xx before the switch; {preview} is the host of Service APP-preview (the new colour), a bare /path means http://{preview}/path")
	f.DurationVar(&o.spec.ScaleDownDelay, "scale-down-delay", 30*time.Second, "bluegreen: how long the old colour is kept after the switch")
	f.DurationVar(&o.poll, "poll-interval", 2*time.Second, "how often the cluster is read while waiting")
	f.StringVar(&o.spec.HTTPRoute, "http-route", "", "canary: Gateway API HTTPRoute whose backendRefs to Service APP carry the traffic weights")
	f.StringVar(&o.spec.NginxIngress, "nginx-ingress", "", "canary: Ingress copied as an ingress-nginx canary Ingress carrying the traffic weights")
	f.StringVar(&o.outcomeFile, "outcome-file", "", "write succeeded, rolled-back or aborted here (a Tekton result)")
	f.StringVar(&o.reasonFile, "reason-file", "", "write why it rolled back or was aborted here (a Tekton result)")
	f.StringVar(&o.objectsFile, "objects-file", "", "--delete-app: write what was deleted (or, with --dry-run, would be), one kind/name a line (a Tekton result)")
	f.StringVar(&o.spec.RunNamespace, "run-namespace", "", "namespace of the deploy PipelineRun named --rollout-id, in the cluster this runs in: it is signalled through and receives the progress too")
	f.BoolVar(&o.removeCanary, "remove-canary", false, "remove the canary a killed canary rollout left instead of rolling out")
	f.BoolVar(&o.deleteApp, "delete-app", false, "delete what Slipway created for the app instead of rolling out")
	f.StringVar(&o.source, "source", "", "the app's repository checked out at the promoted commit: its .slipway.yaml manifests are rendered and applied")
	f.StringVar(&o.spec.Env, "environment", "", "environment whose overlay (manifests/overlays/ENV) is rendered; labels what is applied")
	f.BoolVar(&o.spec.DryRun, "dry-run", false, "--delete-app: list what would be deleted, delete nothing")
	f.BoolVar(&o.orphans, "orphans", false, "list, changing nothing, the objects labelled slipway.dev/app in --namespace whose app is not --claimed (written to --objects-file)")
	f.StringSliceVar(&o.claimed, "claimed", nil, "--orphans: the apps the release config lists")
	cmd.MarkFlagsMutuallyExclusive("remove-canary", "delete-app", "orphans")
	_ = cmd.MarkFlagRequired("namespace")
	return cmd
}

func (o *deployOptions) complete() error {
	o.spec.Strategy = rollout.Strategy(o.strategy)
	switch {
	case o.orphans:
		o.mode = rollout.ModeOrphans
	case o.removeCanary:
		o.mode = rollout.ModeRemoveCanary
	case o.deleteApp:
		o.mode = rollout.ModeDeleteApp
	default:
		o.mode = rollout.ModeRollout
	}
	if o.mode == rollout.ModeOrphans {
		if o.spec.Namespace == "" {
			return errors.New("--namespace is required")
		}
		return nil
	}
	if o.spec.App == "" {
		return errors.New(`required flag(s) "app" not set`)
	}
	if o.mode != rollout.ModeRollout {
		// Nothing is rolled out: only where the app is (and a canary's
		// traffic objects) matter.
		if o.spec.Namespace == "" {
			return errors.New("--namespace and --app are required")
		}
		return nil
	}
	if o.spec.Image == "" {
		return errors.New("--image is required")
	}
	if o.spec.Strategy == rollout.Canary {
		o.spec.Steps = o.steps
	}
	if o.pause == "manual" {
		o.spec.ManualPause = true
	} else {
		p, err := time.ParseDuration(o.pause)
		if err != nil {
			return fmt.Errorf(`--pause %q: want a duration or "manual"`, o.pause)
		}
		o.spec.Pause = p
	}
	if (o.spec.HTTPRoute != "" || o.spec.NginxIngress != "") && o.spec.Strategy != rollout.Canary {
		return errors.New("--http-route and --nginx-ingress apply to --strategy canary only")
	}
	for _, a := range o.analysis {
		q, err := rollout.ParseQuery(a)
		if err != nil {
			return err
		}
		o.spec.Analysis.Queries = append(o.spec.Analysis.Queries, q)
	}
	if len(o.spec.Analysis.Queries) > 0 && o.prometheusURL == "" {
		return errors.New("--analysis needs --prometheus-url")
	}
	if o.poll <= 0 {
		return errors.New("--poll-interval must be positive")
	}
	if err := o.spec.Validate(); err != nil {
		return err
	}
	return o.manifests()
}

// manifests renders the app's manifests when --source has them.
func (o *deployOptions) manifests() error {
	if o.source == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(o.source, repoconfig.FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no .slipway.yaml: the image-swap mode
	}
	if err != nil {
		return fmt.Errorf("--source: %w", err)
	}
	rc, err := repoconfig.Parse(data)
	if err != nil {
		return fmt.Errorf("--source: %w", err)
	}
	if rc.Manifests == nil {
		return nil
	}
	if o.spec.Env == "" {
		return errors.New("--environment is required with manifests (it picks the overlay)")
	}
	o.spec.Manifests, err = manifest.Render(manifest.Options{
		Root: o.source, Path: rc.Manifests.Path, Env: o.spec.Env, App: o.spec.App,
		Namespace: o.spec.Namespace, ImageName: rc.Manifests.Image, Image: o.spec.Image,
	})
	return err
}

func (o *deployOptions) run(cmd *cobra.Command) error {
	rc, err := deployRESTConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	out := cmd.OutOrStdout()
	opts := []deploy.Option{
		deploy.WithPollInterval(o.poll),
		deploy.WithProgress(func(s string) { fmt.Fprintf(out, "%s %s\n", time.Now().UTC().Format(time.TimeOnly), s) }),
	}
	if o.prometheusURL != "" {
		prom, err := deploy.NewPrometheus(o.prometheusURL, &http.Client{Timeout: 30 * time.Second})
		if err != nil {
			return err
		}
		opts = append(opts, deploy.WithMetrics(prom))
	}
	if o.spec.RunNamespace != "" {
		// The PipelineRun is in the cluster the pod runs in, whichever
		// cluster --kubeconfig reaches.
		lrc, err := deployRESTConfig("")
		if err != nil {
			return err
		}
		runs, err := dynamic.NewForConfig(lrc)
		if err != nil {
			return fmt.Errorf("kubernetes dynamic client of the deploy run's cluster: %w", err)
		}
		opts = append(opts, deploy.WithRunClient(runs))
	}
	if o.spec.HTTPRoute != "" || len(o.spec.Manifests) > 0 || o.mode == rollout.ModeDeleteApp {
		dc, err := dynamic.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("kubernetes dynamic client: %w", err)
		}
		// Discovery, read lazily: only the kinds the manifests use.
		mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))
		opts = append(opts, deploy.WithDynamic(dc), deploy.WithMapper(mapper))
	}
	d := deploy.New(client, opts...)
	var done string
	switch o.mode {
	case rollout.ModeOrphans:
		var objs []string
		if objs, err = deploy.Orphans(cmd.Context(), client, o.spec.Namespace, o.claimed); err == nil {
			done = fmt.Sprintf("%d objects in %s that no app claims", len(objs), o.spec.Namespace)
			for _, obj := range objs {
				done += "\n  " + obj
			}
			if werr := writeObjects(o.objectsFile, objs); werr != nil {
				return o.result(rollout.OutcomeFailed, werr.Error(), werr)
			}
		}
	case rollout.ModeDeleteApp:
		var objs []string
		if objs, err = d.DeleteAppSet(cmd.Context(), o.spec); err == nil {
			done = deploy.DeletedLine(o.spec, objs)
			if werr := writeObjects(o.objectsFile, objs); werr != nil {
				return o.result(rollout.OutcomeFailed, werr.Error(), werr)
			}
		}
	default:
		done, err = d.Do(cmd.Context(), o.mode, o.spec)
	}
	var rb *deploy.RollbackError
	switch {
	case errors.As(err, &rb) && rb.Aborted:
		fmt.Fprintf(out, "%s\n", rb.Reason)
		return o.result(rollout.OutcomeAborted, rb.Reason, &exitError{code: 1, err: err})
	case errors.As(err, &rb):
		fmt.Fprintf(out, "ROLLED BACK: %s\n", rb.Reason)
		return o.result(rollout.OutcomeRolledBack, rb.Reason, &exitError{code: 1, err: err})
	case err != nil:
		return o.result(rollout.OutcomeFailed, err.Error(), err)
	}
	fmt.Fprintln(out, done)
	return o.result(rollout.OutcomeSucceeded, "", nil)
}

// maxObjectsResult keeps the objects result under Tekton's result size
// limit (4 KiB per TaskRun by default), room left for outcome and reason.
const maxObjectsResult = 3000

// writeObjects writes objs one a line to file ("" = not asked for); a
// list beyond maxObjectsResult ends with "… and N more", so the server
// still learns that there were more.
func writeObjects(file string, objs []string) error {
	if file == "" {
		return nil
	}
	var b strings.Builder
	for i, o := range objs {
		if b.Len()+len(o)+1 > maxObjectsResult {
			fmt.Fprintf(&b, "… and %d more\n", len(objs)-i)
			break
		}
		b.WriteString(o + "\n")
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

// result writes the outcome files (when asked for) and returns err, or
// the write error when there was none.
func (o *deployOptions) result(outcome, reason string, err error) error {
	for file, v := range map[string]string{o.outcomeFile: outcome, o.reasonFile: reason} {
		if file == "" {
			continue
		}
		if werr := os.WriteFile(file, []byte(v), 0o644); werr != nil && err == nil {
			err = fmt.Errorf("writing %s: %w", file, werr)
		}
	}
	return err
}

// deployRESTConfig: --kubeconfig, else in-cluster (the deploy Task), else
// $KUBECONFIG / ~/.kube/config.
func deployRESTConfig(kubeconfig string) (*rest.Config, error) {
	var rc *rest.Config
	var err error
	if kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else if rc, err = rest.InClusterConfig(); err != nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	return rc, nil
}
