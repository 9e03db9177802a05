package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/labstack/echo/v4"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-ci/slipway/pkg/api"
	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/steplog"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/ui"
)

// webUI assembles the web UI and the collector that saves step logs. With
// API tokens configured, visitors sign in (a server-side session), every
// page needs it unless public-read, and developers may re-run and cancel;
// without, the pages are read-only and open.
func webUI(ctx context.Context, cfg *config.Config, st *store.DB, tc versioned.Interface, informers externalversions.SharedInformerFactory,
	kc kubernetes.Interface, access api.Access, wake func(), prs ui.PipelineRunCache, more ...ui.Option) (*ui.UI, *steplog.Collector, error) {
	insecure := insecureRegistries(cfg)
	// The run pages read from watches Slipway has anyway: the reporter's
	// PipelineRuns and the log collector's TaskRuns.
	logCap, err := cfg.StepLogCapBytes()
	if err != nil {
		return nil, nil, err
	}
	collector := steplog.NewCollector(informers, kc, st, cfg.Namespace, logCap, steplog.WithTestReports(st))
	opts := []ui.Option{
		ui.WithLogCap(logCap),
		ui.WithRunCache(prs, collector),
		ui.WithPublicURL(cfg.PublicURL),
		ui.WithSCMAPIURLs(cfg.GitHubAPIURL, cfg.GitLabAPIURL),
		ui.WithRegistryOptions(insecure, remote.WithAuthFromKeychain(authn.DefaultKeychain)),
		ui.WithWake(wake),
		ui.WithShutdown(ctx),
		ui.WithNotifications(st),
		ui.WithPolicyChecks(st),
		ui.WithTestReports(st),
		ui.WithRecorder(st),
		ui.WithStreamLimits(cfg.SSEPerClient, cfg.SSETotal),
	}
	opts = append(opts, more...)
	if access.Tokens != nil && access.Sessions != nil {
		s := access.Sessions
		a := ui.Auth{
			Identify: auth.Policy{Tokens: access.Tokens, Sessions: s}.Middleware(false),
			Require:  auth.Require(auth.Developer),
			Viewer: func(ctx context.Context) (ui.Viewer, bool) {
				id, ok := auth.FromContext(ctx)
				return ui.Viewer{Name: id.Name, CanAct: id.Role.Allows(auth.Developer)}, ok
			},
			SignIn: func(ctx context.Context, token string) (string, bool, error) {
				id, _, err := s.SignIn(ctx, token)
				if errors.Is(err, auth.ErrUnauthenticated) {
					return "", false, nil
				}
				return id, err == nil, err
			},
			SignOut:    s.SignOut,
			SessionTTL: s.TTL(),
			PublicRead: access.PublicRead,
		}
		if access.Denials != nil {
			a.Denied = access.Denials.Record
		}
		if access.Limit != nil {
			a.Throttle = access.Limit.Middleware()
		}
		opts = append(opts, ui.WithAuth(a))
	}
	u, err := ui.New(st, st, tc, kc, cfg.Namespace, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("web UI: %w", err)
	}
	return u, collector, nil
}

// access is the API's and the UI's authentication policy from cfg.
func access(cfg *config.Config, st *store.DB, tokens *auth.Tokens, denials *api.Denials) (api.Access, error) {
	limit, err := api.NewLimiter(cfg.APIRate, cfg.APIBurst, 0, nil)
	if err != nil {
		return api.Access{}, err
	}
	a := api.Access{Tokens: tokens, PublicRead: cfg.PublicRead, Denials: denials, Limit: limit}
	if tokens != nil {
		if a.Sessions, err = auth.NewSessions(sessionStore{st}, tokens, cfg.SessionTTL, nil); err != nil {
			return api.Access{}, err
		}
	}
	return a, nil
}

// sessionStore adapts the store's session rows to auth's identities.
type sessionStore struct{ st *store.DB }

func (s sessionStore) CreateSession(ctx context.Context, hash string, id auth.Identity, expires time.Time) error {
	return s.st.CreateSession(ctx, store.Session{IDSHA256: hash, Name: id.Name, Role: string(id.Role), ExpiresAt: expires})
}

func (s sessionStore) SessionIdentity(ctx context.Context, hash string) (auth.Identity, error) {
	ss, err := s.st.GetSession(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return auth.Identity{}, auth.ErrNoSession
	}
	if err != nil {
		return auth.Identity{}, err
	}
	return auth.Identity{Name: ss.Name, Role: auth.Role(ss.Role)}, nil
}

func (s sessionStore) DeleteSession(ctx context.Context, hash string) error {
	return s.st.DeleteSession(ctx, hash)
}

// clientIP is how echo's RealIP finds the client: the connection's remote
// address, or with trusted-proxy X-Forwarded-For as set by a proxy on a
// loopback or private address.
func clientIP(cfg *config.Config) echo.IPExtractor {
	if cfg.TrustedProxy {
		return echo.ExtractIPFromXFFHeader()
	}
	return echo.ExtractIPDirect()
}
