// Package gc is supervisord's garbage collector: it marks what image, container
// and lease records reference (blobs, through manifests and indexes, and
// snapshots with their parents), then removes the blobs and committed
// snapshots left unmarked.
//
// The rule that matters: marking is all or nothing. A record that cannot be
// decoded, a manifest that cannot be read or parsed, a listing that fails:
// any error while marking aborts the whole collection before anything is
// removed, because what that record or blob references is unknown and a
// sweep would delete live data. Only blobs that are absent (an index's
// manifests of other platforms) are not errors. Errors while removing are
// reported and the sweep goes on (what remains is removed next time).
package gc

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/images"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/snapshots"
)

// Record kinds of the metadata store the collector reads.
const (
	KindImages     = "images"
	KindContainers = "containers"
	KindLeases     = "leases"
)

// maxManifest bounds a manifest or index read while marking.
const maxManifest = 8 << 20

// Metadata is the record store: per namespace, records of a kind.
type Metadata interface {
	Namespaces() ([]string, error)
	// ForEach calls fn with every record of kind in namespace ns.
	ForEach(ctx context.Context, ns, kind string, fn func(key string, raw []byte) error) error
}

// Content is the blob store.
type Content interface {
	List(ctx context.Context) ([]content.Info, error)
	ReadAll(ctx context.Context, d digest.Digest, max int64) ([]byte, error)
	Delete(ctx context.Context, d digest.Digest) error
}

// Snapshots is the snapshotter; List, Usage and Remove act on the namespace
// of their context.
type Snapshots interface {
	Namespaces() ([]string, error)
	List(ctx context.Context) ([]snapshots.Info, error)
	Usage(ctx context.Context, key string) (size, inodes int64, err error)
	Remove(ctx context.Context, key string) error
}

// Lease protects its resources ("content/<digest>", "snapshots/<name>")
// until it is deleted or expires. A lease without resources (what a client
// creates through the API) protects every blob and snapshot made since its
// creation.
type Lease struct {
	ID        string            `json:"id"`
	CreatedAt time.Time         `json:"created_at"`
	ExpiresAt time.Time         `json:"expires_at,omitzero"`
	Labels    map[string]string `json:"labels,omitempty"`
	Resources map[string]bool   `json:"resources,omitempty"`
}

// Expired tells whether the lease no longer protects anything at now.
func (l Lease) Expired(now time.Time) bool { return !l.ExpiresAt.IsZero() && now.After(l.ExpiresAt) }

// containerRecord is the part of a container record the collector needs.
type containerRecord struct {
	SnapshotKey string `json:"snapshot_key,omitempty"`
}

// Result is what a collection removed.
type Result struct {
	Blobs     []string // digests
	Snapshots []string // <namespace>/<name>
	Bytes     int64
	// Errors are removals that failed; the collection went on.
	Errors []error
}

// Collector collects garbage in one set of stores. The caller keeps writers
// (pulls, imports) out while Collect runs.
type Collector struct {
	Meta      Metadata
	Content   Content
	Snapshots Snapshots
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// marks is the outcome of marking.
type marks struct {
	blobs map[digest.Digest]bool
	snaps map[string]map[string]bool // namespace -> names referenced
	// window: a resource-less lease protects everything made since then.
	window time.Time
}

// Collect marks, then sweeps. An error while marking is returned with
// nothing removed.
func (c *Collector) Collect(ctx context.Context) (Result, error) {
	m, err := c.mark(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("gc: marking (nothing removed): %w", err)
	}
	plan, err := c.plan(ctx, m)
	if err != nil {
		return Result{}, fmt.Errorf("gc: marking (nothing removed): %w", err)
	}
	return c.sweep(ctx, plan), nil
}

func (c *Collector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Collector) mark(ctx context.Context) (*marks, error) {
	m := &marks{blobs: map[digest.Digest]bool{}, snaps: map[string]map[string]bool{}}
	nss, err := c.Meta.Namespaces()
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	now := c.now()
	for _, ns := range nss {
		roots := map[string]bool{}
		m.snaps[ns] = roots
		err := c.Meta.ForEach(ctx, ns, KindImages, func(key string, raw []byte) error {
			var img images.Image
			if err := json.Unmarshal(raw, &img); err != nil {
				return fmt.Errorf("image record %s/%q: %w", ns, key, err)
			}
			if err := c.markTree(ctx, img.Target, m.blobs, 0); err != nil {
				return fmt.Errorf("image %s/%q: %w", ns, key, err)
			}
			if img.Config.Digest != "" {
				m.blobs[img.Config.Digest] = true
			}
			if img.ChainID != "" {
				roots[img.ChainID.String()] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		err = c.Meta.ForEach(ctx, ns, KindContainers, func(key string, raw []byte) error {
			var r containerRecord
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("container record %s/%q: %w", ns, key, err)
			}
			if r.SnapshotKey != "" {
				roots[r.SnapshotKey] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		err = c.Meta.ForEach(ctx, ns, KindLeases, func(key string, raw []byte) error {
			var l Lease
			if err := json.Unmarshal(raw, &l); err != nil {
				return fmt.Errorf("lease record %s/%q: %w", ns, key, err)
			}
			if l.Expired(now) {
				return nil
			}
			if len(l.Resources) == 0 && (m.window.IsZero() || l.CreatedAt.Before(m.window)) {
				m.window = l.CreatedAt
			}
			for r := range l.Resources {
				if d, ok := strings.CutPrefix(r, "content/"); ok {
					m.blobs[digest.Digest(d)] = true
				} else if n, ok := strings.CutPrefix(r, "snapshots/"); ok {
					roots[n] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

// markTree marks a manifest or index and what it references that is here.
func (c *Collector) markTree(ctx context.Context, d ocispec.Descriptor, blobs map[digest.Digest]bool, depth int) error {
	if d.Digest == "" {
		return nil
	}
	if depth > 4 {
		return fmt.Errorf("%s: indexes nested too deep", d.Digest)
	}
	blobs[d.Digest] = true
	b, err := c.Content.ReadAll(ctx, d.Digest, maxManifest)
	if errdefs.IsNotFound(err) {
		// Not here (another platform's manifest of an index pulled for
		// one platform): nothing below it is here through it.
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", d.Digest, err)
	}
	var mf struct {
		Config    ocispec.Descriptor   `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(b, &mf); err != nil {
		return fmt.Errorf("%s: %w", d.Digest, err)
	}
	for _, m := range mf.Manifests {
		if err := c.markTree(ctx, m, blobs, depth+1); err != nil {
			return err
		}
	}
	if mf.Config.Digest != "" {
		blobs[mf.Config.Digest] = true
	}
	for _, l := range mf.Layers {
		blobs[l.Digest] = true
	}
	return nil
}

// sweepPlan is what to remove, decided before anything is.
type sweepPlan struct {
	snaps []doomedSnapshot // children before parents
	blobs []content.Info
}

type doomedSnapshot struct {
	ns   string
	info snapshots.Info
}

// plan lists the snapshots and blobs to remove: active snapshots and views
// are always kept (an unpack or a container uses them), with their parents;
// so are committed snapshots referenced, or made since the window.
func (c *Collector) plan(ctx context.Context, m *marks) (sweepPlan, error) {
	var p sweepPlan
	snapNS, err := c.Snapshots.Namespaces()
	if err != nil {
		return p, fmt.Errorf("listing snapshot namespaces: %w", err)
	}
	for _, ns := range snapNS {
		infos, err := c.Snapshots.List(namespaces.WithNamespace(ctx, ns))
		if err != nil {
			return p, fmt.Errorf("listing snapshots of %s: %w", ns, err)
		}
		byName := map[string]snapshots.Info{}
		for _, i := range infos {
			byName[i.Name] = i
		}
		keep := map[string]bool{}
		markUp := func(n string) {
			for n != "" && !keep[n] {
				keep[n] = true
				n = byName[n].Parent
			}
		}
		for _, i := range infos {
			if i.Kind != snapshots.KindCommitted || m.snaps[ns][i.Name] || m.recent(i.Created) {
				markUp(i.Name)
			}
		}
		depth := func(n string) int {
			d := 0
			for ; n != ""; n = byName[n].Parent {
				d++
			}
			return d
		}
		var doomed []doomedSnapshot
		for _, i := range infos {
			if !keep[i.Name] {
				doomed = append(doomed, doomedSnapshot{ns, i})
			}
		}
		sort.SliceStable(doomed, func(a, b int) bool { return depth(doomed[a].info.Name) > depth(doomed[b].info.Name) })
		p.snaps = append(p.snaps, doomed...)
	}
	all, err := c.Content.List(ctx)
	if err != nil {
		return p, fmt.Errorf("listing blobs: %w", err)
	}
	for _, b := range all {
		if !m.blobs[b.Digest] && !m.recent(b.CreatedAt) {
			p.blobs = append(p.blobs, b)
		}
	}
	return p, nil
}

func (m *marks) recent(t time.Time) bool { return !m.window.IsZero() && !t.Before(m.window) }

func (c *Collector) sweep(ctx context.Context, p sweepPlan) Result {
	var res Result
	for _, d := range p.snaps {
		nctx := namespaces.WithNamespace(ctx, d.ns)
		if size, _, err := c.Snapshots.Usage(nctx, d.info.Name); err == nil {
			res.Bytes += size
		}
		if err := c.Snapshots.Remove(nctx, d.info.Name); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("removing snapshot %s/%s: %w", d.ns, d.info.Name, err))
			continue
		}
		res.Snapshots = append(res.Snapshots, d.ns+"/"+d.info.Name)
	}
	for _, b := range p.blobs {
		if err := c.Content.Delete(ctx, b.Digest); err != nil && !errdefs.IsNotFound(err) {
			res.Errors = append(res.Errors, fmt.Errorf("removing blob %s: %w", b.Digest, err))
			continue
		}
		res.Blobs = append(res.Blobs, b.Digest.String())
		res.Bytes += b.Size
	}
	return res
}
