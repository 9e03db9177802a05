package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// installBackoff spaces the installer's attempts: 1s doubling to a minute,
// for as long as the server runs.
var installBackoff = wait.Backoff{Duration: time.Second, Factor: 2, Cap: time.Minute, Steps: math.MaxInt32}

// installer applies the embedded Tasks and Pipelines once the cluster
// answers, retrying with backoff: serve must start (and accept webhooks)
// while the cluster is down. Each namespace gets its own pipelines: the
// builds namespace the CI pipeline, the deploy namespace the deploy one.
type installer struct {
	client  versioned.Interface
	targets []installTarget
	enabled bool
	// backoff and clock default to installBackoff and the real clock.
	backoff *wait.Backoff
	clock   clock.Clock

	mu        sync.Mutex
	installed bool
	lastErr   error
}

var _ Component = (*installer)(nil)

// installTarget is a namespace and the Pipelines (with their Tasks)
// installed there.
type installTarget struct {
	namespace string
	pipelines []string
}

// install applies every target's part of the embedded bundle, in order.
func (i *installer) install(ctx context.Context) error {
	b, err := tekton.Load(ctx)
	if err != nil {
		return err
	}
	for _, t := range i.targets {
		part, err := b.Only(t.pipelines...)
		if err != nil {
			return err
		}
		if err := part.Install(ctx, i.client, t.namespace); err != nil {
			return err
		}
	}
	return nil
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
	b := installBackoff
	if i.backoff != nil {
		b = *i.backoff
	}
	clk := i.clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	for {
		err := i.install(ctx)
		if err == nil {
			for _, t := range i.targets {
				log.Info("pipelines installed", "namespace", t.namespace, "pipelines", t.pipelines)
			}
			i.setErr(nil)
			return nil
		}
		i.setErr(err)
		// Past the cap, Step keeps answering the cap.
		delay := b.Step()
		log.Warn("installing pipelines failed; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-clk.After(delay):
		}
	}
}
