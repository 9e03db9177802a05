package preflight

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/logging"
)

// BaseImages checks the platform's base images at start and then every
// Interval, logs what is missing, and answers readiness checks from the
// last result (never from a registry call on the probe's path).
type BaseImages struct {
	// Images are the references to check (dockerfile.Platform.Images).
	Images  []string
	Options Options
	// Interval between checks. Default: 15 minutes.
	Interval time.Duration
	// Clock drives the interval. Default: the real clock.
	Clock clock.WithTicker

	mu       sync.Mutex
	checked  bool
	problems []Problem
}

// Run checks until ctx ends.
func (b *BaseImages) Run(ctx context.Context) error {
	c := b.Clock
	if c == nil {
		c = clock.RealClock{}
	}
	every := b.Interval
	if every <= 0 {
		every = 15 * time.Minute
	}
	t := c.NewTicker(every)
	defer t.Stop()
	for {
		b.checkOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

func (b *BaseImages) checkOnce(ctx context.Context) {
	probs := Check(ctx, b.Images, b.Options)
	if ctx.Err() != nil {
		return
	}
	log := logging.From(ctx)
	for _, p := range probs {
		log.Warn("base image missing: builds that need it fail in the Dockerfile step", "image", p.Image, "reason", p.Reason, "tags", strings.Join(p.Tags, ","), "err", p.Err)
	}
	if len(probs) == 0 {
		log.Info("base images present", "count", len(b.Images))
	}
	b.mu.Lock()
	b.checked, b.problems = true, probs
	b.mu.Unlock()
}

// Check reports the last result: nil when every image was there (or no
// check has finished yet), else the missing images.
func (b *BaseImages) Check(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.checked || len(b.problems) == 0 {
		return nil
	}
	names := make([]string, len(b.problems))
	for i, p := range b.problems {
		names[i] = p.Image + " (" + p.Reason + ")"
	}
	return fmt.Errorf("%d of %d base images cannot be pulled: %s", len(b.problems), len(b.Images), strings.Join(names, ", "))
}
