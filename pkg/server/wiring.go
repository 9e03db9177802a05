package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/api"
	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/dispatch"
	"github.com/slipway-ci/slipway/pkg/failure"
	"github.com/slipway-ci/slipway/pkg/kube"
	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/notify"
	"github.com/slipway-ci/slipway/pkg/policy"
	"github.com/slipway-ci/slipway/pkg/report"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
	"github.com/slipway-ci/slipway/pkg/ui"
	"github.com/slipway-ci/slipway/pkg/webhook"
)

// Option configures New.
type Option func(*options)

type options struct {
	version string
}

// WithVersion is the version the server reports in its user agent and
// start-up line. Default: "dev".
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// New assembles `slipway serve` from cfg: it opens the store, builds the
// Kubernetes, Tekton and SCM clients and the one Tekton informer factory
// the reporter, the log collector and notifications share, and wires the
// webhooks, API, UI, dispatcher, reporter, notifier, promotions, installer
// and pruner. Nothing runs until Run; Run closes the store when it
// returns. cfg must be resolved and validated.
func New(ctx context.Context, cfg *config.Config, opts ...Option) (_ *Server, err error) {
	o := options{version: "dev"}
	for _, opt := range opts {
		opt(&o)
	}
	log := logging.From(ctx)
	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", cfg.RedactedStore(), err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, st.Close())
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newQueueCollector(st, clock.RealClock{}))
	dups, err := duplicatesSuppressed(reg)
	if err != nil {
		return nil, err
	}

	restCfg, err := restConfig(cfg, o.version)
	if err != nil {
		return nil, err
	}
	if err := kube.Instrument(restCfg, reg); err != nil {
		return nil, fmt.Errorf("kubernetes client metrics: %w", err)
	}
	tc, err := versioned.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("tekton client: %w", err)
	}
	kc, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	scms, err := scmClients(cfg)
	if err != nil {
		return nil, err
	}
	informers := informerFactory(tc, cfg.Namespace, tekton.KindCI)
	deployInformers := informerFactory(tc, cfg.DeployNamespace, tekton.KindDeploy)

	languagesParam, baseImages, err := languageChecks(cfg)
	if err != nil {
		return nil, err
	}
	var pol *policy.File
	if cfg.PolicyFile != "" {
		// A bad policy stops the start: every run would fail on it.
		if pol, err = policy.Load(cfg.PolicyFile); err != nil {
			return nil, fmt.Errorf("dependency policy: %w", err)
		}
	}
	steps, err := cfg.StepPolicy()
	if err != nil {
		return nil, err
	}
	d, err := dispatch.New(st, tc, scms, tekton.RunOptions{
		Namespace:            cfg.Namespace,
		ImagePrefix:          cfg.ImageRegistry,
		SlipwayImage:         cfg.SlipwayImage,
		SBOMGeneratorImage:   cfg.SBOMGeneratorImage,
		ServiceAccount:       cfg.ServiceAccount,
		GitCredentialsSecret: cfg.GitCredentials,
		StorageClass:         cfg.StorageClass,
		Size:                 cfg.WorkspaceSize,
		Timeout:              cfg.PipelineTimeout,
		BaseRegistry:         cfg.BaseRegistry,
		BuildkitAddr:         cfg.BuildkitAddr,
		BuildkitTLSSecret:    cfg.BuildkitTLSSecret,
		TestCache:            cfg.TestCache,
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
		PRImageSuffix:        cfg.PRImageSuffix,
		PRBuildkitAddr:       cfg.PRBuildkitAddr,
		Policy:               pol,
		AdvisoriesConfigMap:  cfg.AdvisoriesConfigMap,
		Steps:                steps,
	},
		dispatch.WithTrustGate(st, cfg.StatusContext),
		dispatch.WithChangedFiles(changedFiles(scms), 0),
		dispatch.WithWorkers(cfg.DispatchWorkers),
		dispatch.WithPollInterval(cfg.PollInterval),
		dispatch.WithLogger(log.With("component", "dispatch")),
		dispatch.WithMetrics(reg),
		dispatch.WithMaxRunningPerRepo(cfg.MaxRunningPerRepo),
		dispatch.WithRunSlots(st),
	)
	if err != nil {
		return nil, fmt.Errorf("dispatcher: %w", err)
	}
	notifier, err := newNotifier(cfg, st, informers, kc, scms, log.With("component", "notify"),
		notify.WithOnDuplicate(dups.WithLabelValues("notification").Inc))
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	tokens, err := apiTokens(cfg)
	if err != nil {
		return nil, err
	}
	promo, err := promotionService(cfg, st, tc, kc, pol, deployInformers)
	if err != nil {
		return nil, fmt.Errorf("promotions: %w", err)
	}
	sig, err := signer(cfg)
	if err != nil {
		return nil, err
	}
	if promo != nil && sig == nil && len(cfg.VerifyKeys) == 0 {
		log.WarnContext(ctx, "promotion gate checks provenance only: set --signing-key-file (and --verify-keys) so it also requires Slipway's signature")
	}
	rep, err := report.New(informers, st, scms,
		// Runs' events carry the repository's default branch auto-deploy uses.
		// Signed before the automatic deploy, whose gate checks the signature.
		report.WithOnFinished(withAutoDeploy(
			withSigning(onFinished(d, notifier, log.With("component", "report")), imageSigner(sig), insecureRegistries(cfg), registryAuth(), log.With("component", "signing")),
			autoDeployer(promo), st, log.With("component", "promotion"))),
		report.WithNamespace(cfg.Namespace),
		report.WithStatusContext(cfg.StatusContext),
		report.WithLogTail(failure.PodLogs(kc, 40)),
		report.WithBaseURL(cfg.PublicURL),
		report.WithRegisterer(reg),
		report.WithLogger(log.With("component", "report")),
		report.WithPolicyChecks(st),
		report.WithPostLedger(st, statusPostLease, dups.WithLabelValues("status")),
	)
	if err != nil {
		return nil, fmt.Errorf("reporter: %w", err)
	}

	var hookOpts []webhook.Option
	if cfg.GitHubWebhookSecret.IsSet() {
		hookOpts = append(hookOpts, webhook.WithGitHubSecret([]byte(cfg.GitHubWebhookSecret.Reveal())))
	}
	if cfg.GitLabWebhookToken.IsSet() {
		hookOpts = append(hookOpts, webhook.WithGitLabToken(cfg.GitLabWebhookToken.Reveal()))
	}
	hosts, err := cfg.GitHosts()
	if err != nil {
		return nil, err
	}
	for p, h := range hosts {
		hookOpts = append(hookOpts, webhook.WithGitHost(p, h))
	}
	repoSecrets, err := cfg.RepoSecrets()
	if err != nil {
		return nil, err
	}
	for p, m := range repoSecrets {
		hookOpts = append(hookOpts, webhook.WithRepoSecrets(p, m))
	}
	hookOpts = append(hookOpts, webhook.WithAllowedRepos(cfg.AllowedRepos))
	maxBody, maxInflight, err := cfg.WebhookLimits()
	if err != nil {
		return nil, err
	}
	intake, err := dispatch.NewIntake(st, d)
	if err != nil {
		return nil, fmt.Errorf("webhook intake: %w", err)
	}
	hooks, err := webhook.New(st, append(hookOpts,
		webhook.WithMaxBodyBytes(maxBody),
		webhook.WithMaxInflightBytes(maxInflight),
		webhook.WithIntake(intake),
		webhook.WithDispatchWait(cfg.DispatchWait),
		webhook.WithRegisterer(reg),
		webhook.WithLogger(log.With("component", "webhook")),
	)...)
	if err != nil {
		return nil, fmt.Errorf("webhook handler: %w", err)
	}

	// After the webhook handler: the API shares its denial counter.
	denials, err := api.NewDenials(reg)
	if err != nil {
		return nil, err
	}
	acc, err := access(cfg, st, tokens, denials)
	if err != nil {
		return nil, err
	}
	dora, err := insightsService(cfg, st, reg)
	if err != nil {
		return nil, err
	}
	var uiOpts []ui.Option
	if dora != nil {
		uiOpts = append(uiOpts, ui.WithInsights(dora))
	}
	webui, logCollector, err := webUI(ctx, cfg, st, tc, informers, kc, acc, d.Wake, rep, uiOpts...)
	if err != nil {
		return nil, err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = clientIP(cfg)
	hooks.Register(e)
	api.Register(e, st, acc)
	api.RegisterNotifications(e, st, acc)
	api.RegisterPolicy(e, st, acc)
	api.RegisterTests(e, st, acc)
	api.RegisterRunActions(e, api.NewRunActions(st, st, tc, cfg.Namespace, d.Wake), acc)
	webui.Register(e)
	if promo != nil {
		api.RegisterPromotions(e, promo, promo, promo, acc)
	}
	if dora != nil {
		api.RegisterInsights(e, dora, acc)
	}

	ret, err := newRetention(st, map[store.Table]time.Duration{
		store.TableEvents: cfg.RetentionEvents, store.TableRuns: cfg.RetentionRuns,
		store.TableNotifications: cfg.RetentionNotification, store.TableAudit: cfg.RetentionAudit,
	}, reg)
	if err != nil {
		return nil, err
	}
	// Deploy runs, their pipeline and their pruning exist with promotions
	// only (release-config), in the deploy namespace.
	inst := &installer{client: tc, enabled: cfg.InstallPipelines, targets: []installTarget{{cfg.Namespace, []string{tekton.CIPipeline}}}}
	pruned := []string{cfg.Namespace}
	if promo != nil {
		inst.targets = append(inst.targets, installTarget{cfg.DeployNamespace, []string{tekton.DeployPipeline}})
		pruned = append(pruned, cfg.DeployNamespace)
	}
	srv := &Server{
		Echo: e,
		Addr: cfg.Addr,
		Components: map[string]Component{
			"dispatcher":    d,
			"reporter":      rep,
			"installer":     inst,
			"notifier":      notifier,
			"log-collector": logCollector,
			"pruner": &pruner{tc: tc, namespaces: pruned, keep: cfg.PruneKeep,
				logs: st, logAge: cfg.LogRetention, every: 10 * time.Minute},
			"retention": ret,
		},
		Checks: map[string]Check{
			"store": st.Ping,
			"kubernetes": func(ctx context.Context) error {
				_, err := kc.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
				return err
			},
			"pipelines": inst.check,
			// Degraded, not unready: see Degraded.
			"base-images": func(ctx context.Context) error { return Degraded(baseImages.Check(ctx)) },
		},
		Gatherer:        reg,
		ShutdownTimeout: cfg.ShutdownTimeout,
		// The components have stopped when these run: the informers' watches
		// end with them, then the store drains its writes.
		closers: []func() error{func() error { informers.Shutdown(); deployInformers.Shutdown(); return nil }, st.Close},
	}
	if promo != nil {
		srv.Components["promotions"] = promo
		// On every replica: a follower's API follows the delete-app and
		// orphans runs it starts.
		srv.Components["deploy-informers"] = informerStarter{deployInformers}
	}
	srv.Components["informers"] = informerStarter{informers}
	recovered, err := recoveryLoops(cfg, st, hooks, intake, reg)
	if err != nil {
		return nil, err
	}
	for name, c := range recovered {
		srv.Components[name] = c
	}
	srv.DrainDelay = cfg.ShutdownDrain
	if err := electLeader(cfg, srv, kc, reg); err != nil {
		return nil, err
	}
	srv.Components["base-images"] = baseImages
	if sig != nil {
		srv.Components["signer"] = &signCatchUp{runs: st, limit: signCatchUpRuns,
			sign: runSigner{s: sig, insecure: insecureRegistries(cfg), opts: registryAuth(), log: log.With("component", "signing")}}
	}
	if cfg.DebugAddr != "" {
		srv.Components["profiler"] = &Profiler{Addr: cfg.DebugAddr}
	}
	log.Info("starting slipway", "version", o.version, "addr", cfg.Addr, "store", cfg.RedactedStore(),
		"namespace", cfg.Namespace, "deploy-namespace", cfg.DeployNamespace, "providers", providerNames(scms))
	return srv, nil
}

// informerFactory is the server's Tekton informer factory of one
// namespace, one per namespace: the PipelineRuns of one of Slipway's
// pipelines (tekton.KindCI in the builds namespace, tekton.KindDeploy in
// the deploy namespace) and their TaskRuns (they carry their
// PipelineRun's labels). The reporter, the log collector, notifications
// and the UI share the builds one; the promotion service reads the deploy
// one. Each consumer starts its factory once it has asked for its
// informers (Start is idempotent); Run shuts both down.
func informerFactory(tc versioned.Interface, namespace, pipeline string) externalversions.SharedInformerFactory {
	return externalversions.NewSharedInformerFactoryWithOptions(tc, 0,
		externalversions.WithNamespace(namespace),
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = informerSelector(pipeline)
		}))
}

// informerSelector selects the runs of one of Slipway's pipelines.
func informerSelector(pipeline string) string { return tekton.LabelPipeline + "=" + pipeline }
