package promotion

import (
	"context"
	"fmt"
	"sync"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions/pipeline"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// Informers is the part of a Tekton informer factory the service reads
// deploy PipelineRuns from (an externalversions.SharedInformerFactory):
// the server's factory of the deploy namespace. It must watch
// Options.Namespace and select deploy runs (they do not carry
// tekton.LabelManaged).
type Informers interface {
	Tekton() pipeline.Interface
	Start(stop <-chan struct{})
}

// runChanges wakes whoever follows a deploy PipelineRun when the
// informer sees it change.
type runChanges struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

// next is closed at the next change of run name. Taken before reading
// the run, so a change between the read and the wait is not missed.
func (c *runChanges) next(name string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.ch[name]
	if !ok {
		ch = make(chan struct{})
		c.ch[name] = ch
	}
	return ch
}

func (c *runChanges) notify(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok || m.GetLabels()[tekton.LabelPipeline] != tekton.KindDeploy {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.ch[m.GetName()]; ok {
		close(ch)
		delete(c.ch, m.GetName())
	}
}

// watchRuns asks the factory for its PipelineRun informer (before anyone
// starts it) and registers the handler that wakes followers.
func (s *Service) watchRuns(f Informers) error {
	prs := f.Tekton().V1().PipelineRuns()
	s.lister = prs.Lister()
	reg, err := prs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.changes.notify,
		UpdateFunc: func(_, obj any) { s.changes.notify(obj) },
		DeleteFunc: s.changes.notify,
	})
	if err != nil {
		return fmt.Errorf("promotion service: watching deploy PipelineRuns: %w", err)
	}
	s.synced = reg.HasSynced
	return nil
}

// follow hands deploy PipelineRun prName, read from the shared cache, to
// step each time it changes and every PollInterval (step also re-reads
// the promotion), until step says done or fails. The run's deletion is
// an error named after what (the wave); ctx's end returns ctx.Err().
func (s *Service) follow(ctx context.Context, what, prName string, step func(*pipelinev1.PipelineRun) (bool, error)) error {
	id := s.o.Namespace + "/" + prName
	if !cache.WaitForCacheSync(ctx.Done(), s.synced) {
		return ctx.Err()
	}
	tick := time.NewTicker(s.o.PollInterval)
	defer tick.Stop()
	for {
		changed := s.changes.next(prName)
		pr, err := s.cachedRun(ctx, prName)
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("%s: PipelineRun %s was deleted", what, id)
		case err != nil:
			// The API server may be briefly away; keep following.
			logging.From(ctx).Warn("reading deploy PipelineRun", "run", id, "err", err)
		default:
			if done, err := step(pr); done || err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-tick.C:
		}
	}
}

// cachedRun reads prName from the cache. A run just created may not be
// there yet, so a miss is confirmed with the API server: only then is
// the run gone. The object is the cache's: read it, never change it.
func (s *Service) cachedRun(ctx context.Context, prName string) (*pipelinev1.PipelineRun, error) {
	pr, err := s.lister.PipelineRuns(s.o.Namespace).Get(prName)
	if !apierrors.IsNotFound(err) {
		return pr, err
	}
	return s.tc.TektonV1().PipelineRuns(s.o.Namespace).Get(ctx, prName, metav1.GetOptions{})
}
