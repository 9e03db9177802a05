package dispatch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/slipway-ci/slipway/pkg/tekton"
)

// sightings records when each PipelineRun, keyed by its commit SHA label,
// was first seen on the watch, and every run name seen for each SHA (more
// than one is a duplicate).
type sightings struct {
	mu    sync.Mutex
	first map[string]time.Time
	names map[string]map[string]struct{}
	added chan struct{} // signalled on each new name
	// reconciled holds the runs Tekton has given a condition, so a burst
	// can wait for the controller to catch up with the one before.
	reconciled map[string]struct{}
}

func newSightings() *sightings {
	return &sightings{first: map[string]time.Time{}, names: map[string]map[string]struct{}{}, added: make(chan struct{}, 1),
		reconciled: map[string]struct{}{}}
}

func (s *sightings) see(sha, name string, at time.Time, reconciled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reconciled {
		s.reconciled[name] = struct{}{}
	}
	if _, ok := s.first[sha]; !ok {
		s.first[sha] = at
	}
	if s.names[sha] == nil {
		s.names[sha] = map[string]struct{}{}
	}
	if _, ok := s.names[sha][name]; ok {
		return
	}
	s.names[sha][name] = struct{}{}
	select {
	case s.added <- struct{}{}:
	default:
	}
}

// at returns when sha was first seen.
func (s *sightings) at(sha string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.first[sha]
	return t, ok
}

// runs returns how many distinct PipelineRuns carry sha.
func (s *sightings) runs(sha string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.names[sha])
}

// waitReconciled waits until Tekton has reconciled every run seen, or
// until max. The controller reconciles runs at its own (rate-limited)
// pace after a burst; a burst that starts before it caught up would share
// the machine with the previous burst's reconciles — the floor's are
// Slipway's problem otherwise, as the floor always goes first. It returns
// how many were still waiting.
func (s *sightings) waitReconciled(ctx context.Context, maxWait time.Duration) int {
	pending := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, names := range s.names {
			for name := range names {
				if _, ok := s.reconciled[name]; !ok {
					n++
				}
			}
		}
		return n
	}
	deadline := time.Now().Add(maxWait)
	for {
		n := pending()
		if n == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return n
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitAll waits until every sha is seen, or until nothing new has been seen
// for quiet (what is missing then is lost), or ctx ends.
func (s *sightings) waitAll(ctx context.Context, shas []string, quiet time.Duration) {
	missing := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, sha := range shas {
			if _, ok := s.first[sha]; !ok {
				return true
			}
		}
		return false
	}
	t := time.NewTimer(quiet)
	defer t.Stop()
	for missing() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-s.added:
			t.Reset(quiet)
		}
	}
}

// watchRuns opens a watch on the Slipway PipelineRuns of ns now, before any
// burst, and feeds s until ctx ends. A watch the server closes is reopened
// from the last resource version seen.
func watchRuns(ctx context.Context, tc versioned.Interface, ns string, s *sightings) error {
	opts := metav1.ListOptions{LabelSelector: tekton.LabelManaged + "=true"}
	// Watch from the resource version of a list: a watch without one needs
	// etcd progress notifications, which this apiserver's etcd lacks.
	list, err := tc.TektonV1().PipelineRuns(ns).List(ctx, opts)
	if err != nil {
		return fmt.Errorf("listing PipelineRuns in %s: %w", ns, err)
	}
	now := time.Now()
	for i := range list.Items {
		s.see(list.Items[i].Labels[tekton.LabelSHA], list.Items[i].Name, now, reconciled(&list.Items[i]))
	}
	opts.ResourceVersion = list.ResourceVersion
	w, err := tc.TektonV1().PipelineRuns(ns).Watch(ctx, opts)
	if err != nil {
		return fmt.Errorf("watching PipelineRuns in %s: %w", ns, err)
	}
	go func() {
		for {
			for ev := range w.ResultChan() {
				now := time.Now()
				if ev.Type == watch.Error {
					// Mostly "resource version too old": start over from a list.
					w.Stop()
					opts.ResourceVersion = ""
					break
				}
				pr, ok := ev.Object.(*pipelinev1.PipelineRun)
				if !ok {
					continue
				}
				opts.ResourceVersion = pr.ResourceVersion
				if ev.Type == watch.Added || ev.Type == watch.Modified {
					s.see(pr.Labels[tekton.LabelSHA], pr.Name, now, reconciled(pr))
				}
			}
			for ctx.Err() == nil {
				if opts.ResourceVersion == "" {
					list, err := tc.TektonV1().PipelineRuns(ns).List(ctx, opts)
					if err == nil {
						now := time.Now()
						for i := range list.Items {
							s.see(list.Items[i].Labels[tekton.LabelSHA], list.Items[i].Name, now, reconciled(&list.Items[i]))
						}
						opts.ResourceVersion = list.ResourceVersion
					}
				}
				if opts.ResourceVersion != "" {
					if w, err = tc.TektonV1().PipelineRuns(ns).Watch(ctx, opts); err == nil {
						break
					}
				}
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
			if ctx.Err() != nil {
				return
			}
		}
	}()
	return nil
}

// reconciled: Tekton's controller has looked at pr (it sets a condition).
func reconciled(pr *pipelinev1.PipelineRun) bool { return len(pr.Status.Conditions) > 0 }
