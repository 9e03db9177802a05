package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/pkg/api"
	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/dispatch"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/failure"
	"github.com/slipway-ci/slipway/pkg/kube"
	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/report"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
	"github.com/slipway-ci/slipway/pkg/server"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
	"github.com/slipway-ci/slipway/pkg/webhook"
)

// NewServeCmd is `slipway serve`.
func NewServeCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Receive webhooks, dispatch PipelineRuns, report commit statuses",
		Args:  cobra.NoArgs,
	}
	cfg := config.Bind(cmd.Flags())
	cmd.Flags().StringVar(&configPath, "config", os.Getenv(config.EnvName("config")), "YAML config file (keys are the flag names)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := config.Resolve(cmd.Flags(), configPath, os.LookupEnv); err != nil {
			return &exitError{code: 2, err: err}
		}
		if err := cfg.Validate(); err != nil {
			return &exitError{code: 2, err: err}
		}
		if err := cfg.LoadLanguages(configPath); err != nil {
			return &exitError{code: 2, err: err}
		}
		log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		return serve(logging.Into(cmd.Context(), log), cfg)
	}
	return cmd
}

func serve(ctx context.Context, cfg *config.Config) error {
	log := logging.From(ctx)
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return fmt.Errorf("opening store %s: %w", cfg.RedactedStore(), err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	restCfg, err := restConfig(cfg)
	if err != nil {
		return err
	}
	if err := kube.Instrument(restCfg, reg); err != nil {
		return fmt.Errorf("kubernetes client metrics: %w", err)
	}
	tc, err := versioned.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("tekton client: %w", err)
	}
	kc, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	scms, err := scmClients(cfg)
	if err != nil {
		return err
	}

	languagesParam, baseImages, err := languageChecks(cfg)
	if err != nil {
		return err
	}
	d, err := dispatch.New(st, tc, scms, tekton.RunOptions{
		Namespace:            cfg.Namespace,
		ImagePrefix:          cfg.ImageRegistry,
		SlipwayImage:         cfg.SlipwayImage,
		ServiceAccount:       cfg.ServiceAccount,
		GitCredentialsSecret: cfg.GitCredentials,
		StorageClass:         cfg.StorageClass,
		Size:                 cfg.WorkspaceSize,
		Timeout:              cfg.PipelineTimeout,
		BaseRegistry:         cfg.BaseRegistry,
		BuildkitAddr:         cfg.BuildkitAddr,
		BuilderID:            cfg.Builder(),
		InsecureRegistry:     cfg.RegistryInsecure,
		FSGroup:              cfg.PipelineFSGroup,
		Languages:            languagesParam,
		GoProxy:              cfg.GoProxy,
		NpmRegistry:          cfg.NpmRegistry,
		PipIndexURL:          cfg.PipIndexURL,
		MavenSettings:        cfg.MavenSettings,
		MavenOffline:         cfg.MavenOffline,
		TestMemoryLimit:      cfg.TestMemoryLimit,
	},
		dispatch.WithWorkers(cfg.DispatchWorkers),
		dispatch.WithPollInterval(cfg.PollInterval),
		dispatch.WithLogger(log.With("component", "dispatch")),
		dispatch.WithMetrics(reg),
		dispatch.WithMaxRunningPerRepo(cfg.MaxRunningPerRepo),
	)
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	notifier, err := newNotifier(cfg, st, tc, kc, scms, log.With("component", "notify"))
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	tokens, err := apiTokens(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	promo, err := promotionService(cfg, st, tc, kc, dyn)
	if err != nil {
		return fmt.Errorf("promotions: %w", err)
	}
	// Runs' events carry the repository's default branch auto-deploy uses.
	events, _ := st.(store.EventGetter)
	rep, err := report.New(tc, st, scms,
		report.WithOnFinished(withAutoDeploy(onFinished(d, notifier, log.With("component", "report")), autoDeployer(promo), events, log.With("component", "promotion"))),
		report.WithNamespace(cfg.Namespace),
		report.WithStatusContext(cfg.StatusContext),
		report.WithLogTail(failure.PodLogs(kc, 40)),
		report.WithBaseURL(cfg.PublicURL),
		report.WithRegisterer(reg),
		report.WithLogger(log.With("component", "report")),
	)
	if err != nil {
		return fmt.Errorf("reporter: %w", err)
	}

	var hookOpts []webhook.Option
	if cfg.GitHubWebhookSecret.IsSet() {
		hookOpts = append(hookOpts, webhook.WithGitHubSecret([]byte(cfg.GitHubWebhookSecret.Reveal())))
	}
	if cfg.GitLabWebhookToken.IsSet() {
		hookOpts = append(hookOpts, webhook.WithGitLabToken(cfg.GitLabWebhookToken.Reveal()))
	}
	hooks, err := webhook.New(st, append(hookOpts,
		webhook.WithWake(d.Wake),
		webhook.WithHandoff(d),
		webhook.WithDispatchWait(cfg.DispatchWait),
		webhook.WithRegisterer(reg),
		webhook.WithLogger(log.With("component", "webhook")),
	)...)
	if err != nil {
		return fmt.Errorf("webhook handler: %w", err)
	}

	webui, logCollector, err := webUI(ctx, cfg, st, tc, kc, tokens, d.Wake, rep)
	if err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	hooks.Register(e)
	api.Register(e, st)
	if nr, ok := st.(api.NotificationReader); ok {
		api.RegisterNotifications(e, nr)
	}
	webui.Register(e)
	if promo != nil {
		api.RegisterPromotions(e, promo, tokens)
	}

	inst := &installer{client: tc, namespace: cfg.Namespace, enabled: cfg.InstallPipelines}
	srv := &server.Server{
		Echo: e,
		Addr: cfg.Addr,
		Components: map[string]server.Component{
			"dispatcher":    d,
			"reporter":      rep,
			"installer":     inst,
			"notifier":      notifier,
			"log-collector": logCollector,
		},
		Checks: map[string]server.Check{
			"store": st.Ping,
			"kubernetes": func(ctx context.Context) error {
				_, err := kc.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
				return err
			},
			"pipelines": inst.check,
			// Degraded, not unready: see server.Degraded.
			"base-images": func(ctx context.Context) error { return server.Degraded(baseImages.Check(ctx)) },
		},
		Gatherer:        reg,
		ShutdownTimeout: cfg.ShutdownTimeout,
	}
	if promo != nil {
		srv.Components["promotions"] = promo
	}
	srv.Components["base-images"] = baseImages
	if cfg.DebugAddr != "" {
		srv.Components["profiler"] = &server.Profiler{Addr: cfg.DebugAddr}
	}
	logs, _ := st.(store.RunLogs) // webUI refused a store without
	srv.Components["pruner"] = &pruner{tc: tc, namespace: cfg.Namespace, keep: cfg.PruneKeep,
		logs: logs, logAge: cfg.LogRetention, every: 10 * time.Minute}
	log.Info("starting slipway", "version", Version, "addr", cfg.Addr, "store", cfg.RedactedStore(),
		"namespace", cfg.Namespace, "providers", providerNames(scms))
	return srv.Run(ctx)
}

// restConfig: --kubeconfig, else in-cluster, else $KUBECONFIG / ~/.kube/config.
func restConfig(cfg *config.Config) (*rest.Config, error) {
	var rc *rest.Config
	var err error
	switch {
	case cfg.Kubeconfig != "":
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	default:
		rc, err = rest.InClusterConfig()
		if err != nil {
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	// client-go's default 5 QPS would throttle dispatch to a crawl.
	rc.QPS = float32(cfg.KubeQPS)
	rc.Burst = cfg.KubeBurst
	rc.UserAgent = "slipway/" + Version
	return rc, nil
}

func scmClients(cfg *config.Config) (map[event.Provider]scm.Client, error) {
	out := map[event.Provider]scm.Client{}
	// http.DefaultTransport keeps 2 idle connections per host: with many
	// dispatch workers reading .slipway.yaml from one HTTP/1.1 API host
	// (GitHub Enterprise or GitLab behind a proxy), every other call dialled
	// a new connection (bench/RESULTS.md, "Dispatch").
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: tr}
	if cfg.GitHubToken.IsSet() {
		c, err := github.NewClient(cfg.GitHubToken.Reveal(), cfg.GitHubAPIURL, hc)
		if err != nil {
			return nil, fmt.Errorf("github client: %w", err)
		}
		out[event.GitHub] = c
	}
	if cfg.GitLabToken.IsSet() {
		c, err := gitlab.NewClient(cfg.GitLabToken.Reveal(), cfg.GitLabAPIURL, hc)
		if err != nil {
			return nil, fmt.Errorf("gitlab client: %w", err)
		}
		out[event.GitLab] = c
	}
	return out, nil
}

func providerNames(m map[event.Provider]scm.Client) []string {
	var out []string
	for p := range m {
		out = append(out, string(p))
	}
	return out
}

// installer applies the embedded Tasks and Pipelines once the cluster
// answers, retrying with backoff: serve must start (and accept webhooks)
// while the cluster is down.
type installer struct {
	client    versioned.Interface
	namespace string
	enabled   bool

	mu        sync.Mutex
	installed bool
	lastErr   error
}

func (i *installer) setErr(err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.installed, i.lastErr = err == nil, err
}

// check is the readiness of the pipelines: not ready until installed.
func (i *installer) check(context.Context) error {
	if !i.enabled {
		return nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case i.installed:
		return nil
	case i.lastErr != nil:
		return fmt.Errorf("not installed yet: %w", i.lastErr)
	default:
		return errors.New("not installed yet")
	}
}

func (i *installer) Run(ctx context.Context) error {
	if !i.enabled {
		return nil
	}
	log := logging.From(ctx).With("component", "installer")
	delay := time.Second
	for {
		err := tekton.Install(ctx, i.client, i.namespace)
		if err == nil {
			log.Info("pipelines installed", "namespace", i.namespace)
			i.setErr(nil)
			return nil
		}
		i.setErr(err)
		log.Warn("installing pipelines failed; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Minute)
	}
}
