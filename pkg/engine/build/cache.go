package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/berthd/berth/pkg/atomicfile"
)

// Cache maps a step's cache key to the image it made. A key is anchored
// on a real image ID (the parent) and chains the instructions since then,
// so a step is reused only on the very image it was built on, as the
// classic builder does. The file survives engined restarts; an entry whose
// image was removed is a miss (and is dropped).
type Cache struct {
	path string

	mu      sync.Mutex
	entries map[string]string
}

// OpenCache reads the cache file under dataRoot (a missing file is an
// empty cache; an unreadable one too, with the error returned so the
// caller can log it: losing the cache loses no image).
func OpenCache(dataRoot string) (*Cache, error) {
	c := &Cache{path: filepath.Join(dataRoot, "build", "cache.json"), entries: map[string]string{}}
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("build cache: %w", err)
	}
	if err := json.Unmarshal(b, &c.entries); err != nil {
		c.entries = map[string]string{}
		return c, fmt.Errorf("build cache %s: %w", c.path, err)
	}
	return c, nil
}

// Get returns the image recorded for key.
func (c *Cache) Get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.entries[key]
	return v, ok
}

// Put records key → image and writes the file.
func (c *Cache) Put(key, image string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[key]; ok && old == image {
		return nil
	}
	c.entries[key] = image
	return c.saveLocked()
}

// Drop forgets key.
func (c *Cache) Drop(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok {
		return nil
	}
	delete(c.entries, key)
	return c.saveLocked()
}

// Len is the number of entries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache) saveLocked() error {
	b, err := json.Marshal(c.entries)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(c.path, b, 0o600)
}

// chainKey is the key of a step: the previous key, the instruction as
// written, the build args in effect (they change what RUN sees and what
// expands) and extra (the content hash of COPY and ADD sources).
func chainKey(prev, instruction string, args map[string]string, extra string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", prev, instruction)
	for _, k := range sortedKeys(args) {
		fmt.Fprintf(h, "arg %q=%q\n", k, args[k])
	}
	fmt.Fprintf(h, "extra %s\n", extra)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// imageKey anchors a chain on an image.
func imageKey(imageID string) string { return "image " + strings.TrimSpace(imageID) }

// Prune forgets every entry and returns how many there were.
func (c *Cache) Prune() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	c.entries = map[string]string{}
	return n, c.saveLocked()
}

// Images returns the images the cache names, each with the number of
// keys that name it.
func (c *Cache) Images() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, id := range c.entries {
		if id != "" {
			out[id]++
		}
	}
	return out
}
