package promotion

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/slipway-ci/slipway/pkg/environment"
	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/rollout"
)

// DeleteApp retires app for real; see RetireApp.
func (s *Service) DeleteApp(ctx context.Context, who Caller, appName string) error {
	r, err := s.RetireApp(ctx, who, appName, false)
	if err == nil && r.Failed() {
		err = retirementError(r)
	}
	return err
}

// RetireApp deletes what Slipway applied and created for app in every
// cluster of every environment, one delete-app deploy run per cluster,
// and forgets its deployment history; admins only. dryRun deletes
// nothing and forgets nothing: the runs list what would go. The app may
// be one the release config no longer lists but whose deployments are
// still recorded. A cluster whose run failed carries its error in the
// answer (the history is then kept); the error is for the request itself
// (forbidden, unknown app, bad name).
func (s *Service) RetireApp(ctx context.Context, who Caller, appName string, dryRun bool) (*release.Retirement, error) {
	r, err := s.retireApp(ctx, who, appName, dryRun, "")
	action := "app-delete"
	if dryRun {
		action = "app-delete-dry-run"
	}
	aerr := err
	if err == nil && r.Failed() {
		aerr = retirementError(r)
	}
	s.audit(ctx, who, &release.AuditEntry{Action: action, App: appName}, aerr)
	return r, err
}

func retirementError(r *release.Retirement) error {
	var errs []error
	for _, c := range r.Clusters {
		if c.Error != "" {
			errs = append(errs, fmt.Errorf("%s/%s: %s", c.Env, c.Cluster, c.Error))
		}
	}
	return fmt.Errorf("deleting %s: %w", r.App, errors.Join(errs...))
}

// retireApp does RetireApp; id names the runs (default: the clock's
// second, so each request gets its own).
func (s *Service) retireApp(ctx context.Context, who Caller, appName string, dryRun bool, id string) (*release.Retirement, error) {
	if !who.Admin {
		return nil, fmt.Errorf("%w: deleting an app needs the admin role; %s is a %s", ErrForbidden, who.Name, who.Role)
	}
	if errs := validation.IsDNS1123Label(appName); len(errs) > 0 {
		return nil, fmt.Errorf("%w: app name %q: %s", ErrInvalid, appName, errs[0])
	}
	targets, err := s.retireTargets(ctx, appName)
	if err != nil {
		return nil, err
	}
	if id == "" {
		id = strconv.FormatInt(s.clock.Now().Unix(), 10)
	}
	if dryRun {
		id = "dry-" + id
	}
	r := &release.Retirement{App: appName, DryRun: dryRun}
	for _, t := range targets {
		for _, cl := range t.Clusters {
			r.Clusters = append(r.Clusters, release.RetiredCluster{Env: t.Env, Cluster: cl.Name, Namespace: t.Namespace})
		}
	}
	// All clusters at once; each writes only its own entry.
	var wg sync.WaitGroup
	i := 0
	for _, t := range targets {
		for _, cl := range t.Clusters {
			rc := &r.Clusters[i]
			i++
			wg.Add(1)
			go func() {
				defer wg.Done()
				objs, err := s.runModeObjects(ctx, rollout.ModeDeleteApp, appName, t.Env, t, cl, id, dryRun)
				rc.Objects = objs
				if err != nil {
					rc.Error = err.Error()
				}
			}()
		}
	}
	wg.Wait()
	if dryRun || r.Failed() {
		// The history stays while something may still run.
		return r, nil
	}
	if err := s.st.DeleteDeployments(ctx, appName); err != nil {
		return nil, fmt.Errorf("forgetting the deployments of %s: %w", appName, err)
	}
	return r, nil
}

// retireTargets are where app runs: from the release config, or, for an
// app it no longer lists, every environment its deployments were recorded
// in, at the environment's namespace under the app's own name (its
// overrides left the config with it).
func (s *Service) retireTargets(ctx context.Context, appName string) ([]environment.Target, error) {
	var out []environment.Target
	if _, ok := s.cfg.App(appName); ok {
		for _, e := range s.cfg.Environments {
			t, err := s.cfg.Target(appName, e.Name)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	}
	apps, err := s.deployedApps(ctx)
	if err != nil {
		return nil, err
	}
	envs, ok := apps[appName]
	if !ok {
		return nil, fmt.Errorf("%w: unknown app %q (not in the release config, no deployments recorded)", ErrNotFound, appName)
	}
	for _, e := range s.cfg.Environments {
		if slices.Contains(envs, e.Name) {
			out = append(out, environment.Target{App: appName, Env: e.Name, Namespace: e.Namespace, Deployment: appName, Clusters: e.Clusters})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: app %q was deployed only to environments the release config no longer lists (%v)", ErrInvalid, appName, envs)
	}
	return out, nil
}

func (s *Service) deployedApps(ctx context.Context) (map[string][]string, error) {
	if s.o.Deployed == nil {
		return nil, nil
	}
	apps, err := s.o.Deployed.DeployedApps(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the deployed apps: %w", err)
	}
	return apps, nil
}

// removedApps tracks the retirement of apps removed from the config, for
// RemovedApps.
type removedApps struct {
	mu    sync.Mutex
	state map[string]release.RemovedApp
}

// RemovedApps lists the apps with deployments recorded that the release
// config no longer lists, and how their retirement stands.
func (s *Service) RemovedApps(ctx context.Context) ([]release.RemovedApp, error) {
	apps, err := s.deployedApps(ctx)
	if err != nil {
		return nil, err
	}
	s.removed.mu.Lock()
	defer s.removed.mu.Unlock()
	out := []release.RemovedApp{}
	for app, envs := range apps {
		if _, ok := s.cfg.App(app); ok {
			continue
		}
		ra := release.RemovedApp{App: app, Envs: envs, State: release.RemovedPending}
		if st, ok := s.removed.state[app]; ok {
			ra.State, ra.Error = st.State, st.Error
		}
		out = append(out, ra)
	}
	slices.SortFunc(out, func(a, b release.RemovedApp) int {
		switch {
		case a.App < b.App:
			return -1
		case a.App > b.App:
			return 1
		}
		return 0
	})
	return out, nil
}

// retireRemoved retires the apps removed from the config when
// RetireRemovedApps allows it, else logs them once as pending. Run calls
// it at start. Every replica may: the runs are named after the app's
// newest deployment, so replicas share them, and an app re-added and
// removed again gets new ones.
func (s *Service) retireRemoved(ctx context.Context) {
	log := logging.From(ctx)
	removed, err := s.RemovedApps(ctx)
	if err != nil {
		log.Warn("listing apps removed from the release config", "err", err)
		return
	}
	for _, ra := range removed {
		if !s.cfg.RetireRemovedApps {
			log.Warn("app removed from the release config still has deployments; retireRemovedApps is off, so it is left running until `slipway app delete`",
				"app", ra.App, "envs", ra.Envs)
			continue
		}
		latest, err := s.st.ListDeployments(ctx, ra.App, "", 1)
		if err != nil || len(latest) == 0 {
			log.Warn("reading the last deployment of a removed app", "app", ra.App, "err", err)
			continue
		}
		s.setRemoved(ra.App, release.RemovedRetiring, "")
		who := Caller{Name: Actor, Role: "system", Admin: true}
		r, err := s.retireApp(ctx, who, ra.App, false, "removed-"+strconv.FormatInt(latest[0].ID, 10))
		if err == nil && r.Failed() {
			err = retirementError(r)
		}
		s.audit(ctx, who, &release.AuditEntry{Action: "app-retire-removed", App: ra.App}, err)
		if err != nil {
			log.Error("retiring an app removed from the release config", "app", ra.App, "err", err)
			s.setRemoved(ra.App, release.RemovedFailed, err.Error())
			continue
		}
		log.Info("retired an app removed from the release config", "app", ra.App)
		s.setRemoved(ra.App, "", "")
	}
}

// setRemoved records app's state; "" forgets it (retired: its
// deployments are gone, so it is no longer listed).
func (s *Service) setRemoved(app string, st release.RemovedState, reason string) {
	s.removed.mu.Lock()
	defer s.removed.mu.Unlock()
	if st == "" {
		delete(s.removed.state, app)
		return
	}
	s.removed.state[app] = release.RemovedApp{App: app, State: st, Error: reason}
}
