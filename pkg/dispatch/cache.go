package dispatch

import (
	"container/list"
	"context"
	"sync"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// configKey names one .slipway.yaml: a commit's content never changes.
type configKey struct {
	provider, repo, sha string
}

// configResult is a parsed config or the parse error, both final for a SHA.
type configResult struct {
	cfg *repoconfig.Config
	err error
}

type cacheEntry struct {
	key  configKey
	res  configResult
	done chan struct{} // closed when res is set
	ok   bool          // false when the load failed and must be retried
}

// configCache is a bounded LRU of parsed configs. Concurrent lookups of
// the same key wait for the one load in flight, so a SHA is read once.
type configCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // front = most recently used; values are *cacheEntry
	entries map[configKey]*list.Element
	// onWait, when set (by tests), is called when a lookup starts waiting
	// for another's load.
	onWait func()
}

func newConfigCache(max int) *configCache {
	return &configCache{max: max, order: list.New(), entries: map[configKey]*list.Element{}}
}

// get returns the cached result for key, or calls load once (for all
// concurrent callers). A load that returns ok=false (a transient failure)
// is not cached.
func (c *configCache) get(ctx context.Context, key configKey, load func() (configResult, bool)) configResult {
	for {
		c.mu.Lock()
		if el, hit := c.entries[key]; hit {
			e := el.Value.(*cacheEntry)
			c.order.MoveToFront(el)
			c.mu.Unlock()
			if c.onWait != nil {
				c.onWait()
			}
			select {
			case <-e.done:
			case <-ctx.Done():
				return configResult{err: ctx.Err()}
			}
			if e.ok {
				return e.res
			}
			// The load we waited on failed and was dropped; try ourselves.
			continue
		}
		e := &cacheEntry{key: key, done: make(chan struct{})}
		c.entries[key] = c.order.PushFront(e)
		c.evict()
		c.mu.Unlock()

		res, ok := load()
		c.mu.Lock()
		e.res, e.ok = res, ok
		if !ok {
			if el, hit := c.entries[key]; hit && el.Value.(*cacheEntry) == e {
				c.order.Remove(el)
				delete(c.entries, key)
			}
		}
		close(e.done)
		c.mu.Unlock()
		return res
	}
}

// evict drops the least recently used entries beyond max. Called with mu held.
func (c *configCache) evict() {
	for c.order.Len() > c.max {
		el := c.order.Back()
		c.order.Remove(el)
		delete(c.entries, el.Value.(*cacheEntry).key)
	}
}
