package dispatch

import (
	"context"
	"errors"

	"golang.org/x/sync/singleflight"
	"k8s.io/utils/lru"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// configKey names one .slipway.yaml: a commit's content never changes.
type configKey struct {
	provider, repo, sha string
}

func (k configKey) String() string { return k.provider + "\x00" + k.repo + "\x00" + k.sha }

// configResult is a parsed config or the parse error, both final for a SHA.
type configResult struct {
	cfg *repoconfig.Config
	err error
}

// errNotFinal says a load failed in a way worth trying again (a transient
// read error): its result is not cached.
var errNotFinal = errors.New("config load not final")

// configCache is a bounded LRU of parsed configs. Concurrent lookups of
// the same key share the one load in flight, so a SHA is read once.
type configCache struct {
	cache  *lru.Cache
	flight singleflight.Group
	// onWait, when set (by tests), is called when a lookup missed the
	// cache and is about to join the load in flight or start one.
	onWait func()
}

func newConfigCache(max int) *configCache {
	return &configCache{cache: lru.New(max)}
}

// get returns the cached result for key, or calls load once (for all
// concurrent callers). A load that returns ok=false (a transient failure)
// is not cached, and a caller that joined it loads again itself.
func (c *configCache) get(ctx context.Context, key configKey, load func() (configResult, bool)) configResult {
	for {
		if v, hit := c.cache.Get(key); hit {
			return v.(configResult)
		}
		if c.onWait != nil {
			c.onWait()
		}
		ran := false
		ch := c.flight.DoChan(key.String(), func() (any, error) {
			// Loaded between our miss and this flight.
			if v, hit := c.cache.Get(key); hit {
				return v, nil
			}
			ran = true
			res, final := load()
			if !final {
				return res, errNotFinal
			}
			c.cache.Add(key, res)
			return res, nil
		})
		select {
		case r := <-ch:
			// ran was set before ch was sent on, if this caller's load ran.
			if r.Err == nil || ran {
				return r.Val.(configResult)
			}
			// The load we joined failed and was dropped; try ourselves.
		case <-ctx.Done():
			return configResult{err: ctx.Err()}
		}
	}
}
