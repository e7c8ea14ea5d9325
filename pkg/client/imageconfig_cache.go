package client

import (
	"context"
	"sync"

	"github.com/berthd/berth/pkg/namespaces"
)

// configCache holds image config blobs by namespace and digest: a blob is
// its digest's content, so it never changes, and reading it again was a
// content stream (0.6 ms) in every container create. Bounded: past
// maxCachedConfigBytes it starts again from empty; a config larger than
// maxCachedConfig is not kept.
type configCache struct {
	mu    sync.Mutex
	m     map[string][]byte
	bytes int
}

const (
	maxCachedConfig      = 256 << 10
	maxCachedConfigBytes = 4 << 20
)

func configKey(ctx context.Context, digest string) string {
	return namespaces.Namespace(ctx) + "\x00" + digest
}

func (c *configCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[key]
	return b, ok
}

func (c *configCache) put(key string, b []byte) {
	if len(b) > maxCachedConfig {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.bytes+len(b) > maxCachedConfigBytes {
		c.m, c.bytes = map[string][]byte{}, 0
	}
	if _, ok := c.m[key]; !ok {
		c.m[key] = b
		c.bytes += len(b)
	}
}
