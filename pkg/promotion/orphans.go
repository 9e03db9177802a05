package promotion

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/slipway-ci/slipway/pkg/environment"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/rollout"
)

// Orphans reports the objects labelled slipway.dev/app in the apps'
// namespaces of every cluster whose app the release config does not
// claim. The server may not read those namespaces, so each cluster and
// namespace gets an orphans deploy run that lists them, changing nothing;
// release managers and admins only, since each report starts runs.
func (s *Service) Orphans(ctx context.Context, who Caller) (*release.OrphanReport, error) {
	if !who.ReleaseManager {
		return nil, fmt.Errorf("%w: the orphan report needs the release-manager role; %s is a %s", ErrForbidden, who.Name, who.Role)
	}
	// The label carries the Deployment's name, which an environment may
	// override: every name an app goes by is claimed.
	var claimed []string
	nss := map[string][]string{} // environment → its apps' namespaces
	for _, a := range s.cfg.Apps {
		claimed = append(claimed, a.Name)
		for _, e := range s.cfg.Environments {
			t, err := s.cfg.Target(a.Name, e.Name)
			if err != nil {
				return nil, err
			}
			claimed = append(claimed, t.Deployment)
			nss[e.Name] = append(nss[e.Name], t.Namespace)
		}
	}
	slices.Sort(claimed)
	claimed = slices.Compact(claimed)
	id := strconv.FormatInt(s.clock.Now().Unix(), 10)
	r := &release.OrphanReport{}
	type job struct {
		t  environment.Target
		cl environment.Cluster
	}
	var jobs []job
	for _, e := range s.cfg.Environments {
		ns := append(nss[e.Name], e.Namespace)
		slices.Sort(ns)
		for _, n := range slices.Compact(ns) {
			for _, cl := range e.Clusters {
				jobs = append(jobs, job{environment.Target{Env: e.Name, Namespace: n}, cl})
				r.Clusters = append(r.Clusters, release.RetiredCluster{Env: e.Name, Cluster: cl.Name, Namespace: n})
			}
		}
	}
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			objs, err := s.runOrphans(ctx, j.t, j.cl, id, claimed)
			r.Clusters[i].Objects = objs
			if err != nil {
				r.Clusters[i].Error = err.Error()
			}
		}()
	}
	wg.Wait()
	return r, nil
}

func (s *Service) runOrphans(ctx context.Context, t environment.Target, cl environment.Cluster, id string, claimed []string) ([]string, error) {
	return s.runDeployMode(ctx, rollout.ModeOrphans, t.Namespace, t.Env, t, cl, id, false, claimed)
}
