package dispatch

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// A lookup that arrives while the same key loads shares that load (or
// finds its result cached); if the load fails transiently, the waiter
// loads again itself.
func TestConfigCacheSharesLoads(t *testing.T) {
	for _, firstOK := range []bool{true, false} {
		c := newConfigCache(4)
		waiting := make(chan struct{})
		// The first lookup's call comes before its load starts; the
		// second's is the one to wait for.
		var lookups atomic.Int32
		c.onWait = func() {
			if lookups.Add(1) == 2 {
				close(waiting)
			}
		}
		key := configKey{"github", "acme/web", shaA}
		started, release := make(chan struct{}), make(chan struct{})
		first := make(chan configResult)
		go func() {
			first <- c.get(context.Background(), key, func() (configResult, bool) {
				close(started)
				<-release
				if !firstOK {
					return configResult{err: errors.New("502")}, false
				}
				return configResult{cfg: &repoconfig.Config{App: "one"}}, true
			})
		}()
		<-started
		second := make(chan configResult)
		secondLoads := 0
		go func() {
			second <- c.get(context.Background(), key, func() (configResult, bool) {
				secondLoads++
				return configResult{cfg: &repoconfig.Config{App: "two"}}, true
			})
		}()
		<-waiting
		close(release)
		<-first
		got := <-second
		wantApp, wantLoads := "one", 0
		if !firstOK {
			wantApp, wantLoads = "two", 1
		}
		if got.cfg == nil || got.cfg.App != wantApp || secondLoads != wantLoads {
			t.Errorf("first load ok=%v: second got %+v after %d loads, want app %q after %d", firstOK, got, secondLoads, wantApp, wantLoads)
		}
	}
}
