package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/images"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/snapshots"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type fakeMeta struct {
	recs map[string]map[string]map[string][]byte // ns -> kind -> key -> raw
	err  error                                   // returned by ForEach
}

func (m *fakeMeta) Namespaces() ([]string, error) {
	var out []string
	for ns := range m.recs {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out, nil
}

func (m *fakeMeta) ForEach(ctx context.Context, ns, kind string, fn func(string, []byte) error) error {
	if m.err != nil {
		return m.err
	}
	for k, v := range m.recs[ns][kind] {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (m *fakeMeta) put(ns, kind, key string, v any) {
	raw, ok := v.([]byte)
	if !ok {
		raw, _ = json.Marshal(v)
	}
	if m.recs[ns] == nil {
		m.recs[ns] = map[string]map[string][]byte{}
	}
	if m.recs[ns][kind] == nil {
		m.recs[ns][kind] = map[string][]byte{}
	}
	m.recs[ns][kind][key] = raw
}

type fakeContent struct {
	blobs   map[digest.Digest][]byte
	created map[digest.Digest]time.Time
	readErr map[digest.Digest]error
	delErr  map[digest.Digest]error
	listErr error
}

func (c *fakeContent) add(b []byte, created time.Time) digest.Digest {
	d := digest.FromBytes(b)
	c.blobs[d] = b
	c.created[d] = created
	return d
}

func (c *fakeContent) List(context.Context) ([]content.Info, error) {
	if c.listErr != nil {
		return nil, c.listErr
	}
	var out []content.Info
	for d, b := range c.blobs {
		out = append(out, content.Info{Digest: d, Size: int64(len(b)), CreatedAt: c.created[d]})
	}
	return out, nil
}

func (c *fakeContent) ReadAll(_ context.Context, d digest.Digest, max int64) ([]byte, error) {
	if err := c.readErr[d]; err != nil {
		return nil, err
	}
	b, ok := c.blobs[d]
	if !ok {
		return nil, fmt.Errorf("content %s: %w", d, errdefs.ErrNotFound)
	}
	return b, nil
}

func (c *fakeContent) Delete(_ context.Context, d digest.Digest) error {
	if err := c.delErr[d]; err != nil {
		return err
	}
	delete(c.blobs, d)
	return nil
}

type fakeSnaps struct {
	snaps   map[string]map[string]snapshots.Info // ns -> name
	listErr error
	removed []string
}

func (s *fakeSnaps) add(ns, name, parent string, kind snapshots.Kind, created time.Time) {
	if s.snaps[ns] == nil {
		s.snaps[ns] = map[string]snapshots.Info{}
	}
	s.snaps[ns][name] = snapshots.Info{Name: name, Parent: parent, Kind: kind, Created: created}
}

func (s *fakeSnaps) Namespaces() ([]string, error) {
	var out []string
	for ns := range s.snaps {
		out = append(out, ns)
	}
	return out, nil
}

func (s *fakeSnaps) List(ctx context.Context) ([]snapshots.Info, error) {
	if s.listErr != nil {
		return nil, s.listErr
	}
	ns := namespaces.Namespace(ctx)
	var out []snapshots.Info
	for _, i := range s.snaps[ns] {
		out = append(out, i)
	}
	return out, nil
}

func (s *fakeSnaps) Usage(context.Context, string) (int64, int64, error) { return 10, 1, nil }

func (s *fakeSnaps) Remove(ctx context.Context, key string) error {
	ns := namespaces.Namespace(ctx)
	for _, i := range s.snaps[ns] {
		if i.Parent == key {
			return fmt.Errorf("snapshot %q has child %q: %w", key, i.Name, errdefs.ErrFailedPrecondition)
		}
	}
	delete(s.snaps[ns], key)
	s.removed = append(s.removed, ns+"/"+key)
	return nil
}

// world is one store with an image (index → manifest → config, 2 layers,
// chain snapshots), a container, garbage, and an old and a live lease.
type world struct {
	meta    *fakeMeta
	cont    *fakeContent
	snaps   *fakeSnaps
	index   digest.Digest
	mf      digest.Digest
	cfg     digest.Digest
	layers  []digest.Digest
	garbage digest.Digest
	leased  digest.Digest
}

func newWorld() *world {
	w := &world{
		meta:  &fakeMeta{recs: map[string]map[string]map[string][]byte{}},
		cont:  &fakeContent{blobs: map[digest.Digest][]byte{}, created: map[digest.Digest]time.Time{}, readErr: map[digest.Digest]error{}, delErr: map[digest.Digest]error{}},
		snaps: &fakeSnaps{snaps: map[string]map[string]snapshots.Info{}},
	}
	w.cfg = w.cont.add([]byte(`{"config":1}`), t0)
	w.layers = []digest.Digest{w.cont.add([]byte("layer1"), t0), w.cont.add([]byte("layer2"), t0)}
	mf, _ := json.Marshal(ocispec.Manifest{Config: ocispec.Descriptor{Digest: w.cfg},
		Layers: []ocispec.Descriptor{{Digest: w.layers[0]}, {Digest: w.layers[1]}}})
	w.mf = w.cont.add(mf, t0)
	idx, _ := json.Marshal(ocispec.Index{Manifests: []ocispec.Descriptor{{Digest: w.mf}, {Digest: digest.FromString("other platform, not here")}}})
	w.index = w.cont.add(idx, t0)
	w.garbage = w.cont.add([]byte("garbage"), t0)
	w.leased = w.cont.add([]byte("leased"), t0)
	w.meta.put("default", KindImages, "busybox", images.Image{Name: "busybox", Target: ocispec.Descriptor{Digest: w.index}, Config: ocispec.Descriptor{Digest: w.cfg}, ChainID: "chain2"})
	w.meta.put("default", KindContainers, "c1", map[string]any{"id": "c1", "snapshot_key": "c1-rw"})
	w.meta.put("default", KindLeases, "pull", Lease{ID: "pull", CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Hour), Resources: map[string]bool{"content/" + w.leased.String(): true, "snapshots/leased": true}})
	w.meta.put("default", KindLeases, "old", Lease{ID: "old", CreatedAt: t0.Add(-3 * time.Hour), ExpiresAt: t0.Add(-2 * time.Hour)})
	w.snaps.add("default", "chain1", "", snapshots.KindCommitted, t0)
	w.snaps.add("default", "chain2", "chain1", snapshots.KindCommitted, t0)
	w.snaps.add("default", "base", "", snapshots.KindCommitted, t0)
	w.snaps.add("default", "c1-rw", "base", snapshots.KindActive, t0)
	w.snaps.add("default", "leased", "", snapshots.KindCommitted, t0)
	w.snaps.add("default", "dead1", "", snapshots.KindCommitted, t0)
	w.snaps.add("default", "dead2", "dead1", snapshots.KindCommitted, t0)
	w.snaps.add("default", "dead3", "dead2", snapshots.KindCommitted, t0)
	w.snaps.add("other", "unused", "", snapshots.KindCommitted, t0)
	return w
}

func (w *world) collector() *Collector {
	return &Collector{Meta: w.meta, Content: w.cont, Snapshots: w.snaps, Now: func() time.Time { return t0.Add(time.Hour) }}
}

func (w *world) state() (blobs []string, snaps []string) {
	for d := range w.cont.blobs {
		blobs = append(blobs, d.String())
	}
	for ns, m := range w.snaps.snaps {
		for n := range m {
			snaps = append(snaps, ns+"/"+n)
		}
	}
	sort.Strings(blobs)
	sort.Strings(snaps)
	return
}

func TestCollectRemovesOnlyUnreferenced(t *testing.T) {
	w := newWorld()
	res, err := w.collector().Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Blobs, []string{w.garbage.String()}) {
		t.Errorf("removed blobs %v, want only the garbage %s", res.Blobs, w.garbage)
	}
	sort.Strings(res.Snapshots)
	want := []string{"default/dead1", "default/dead2", "default/dead3", "other/unused"}
	if !reflect.DeepEqual(res.Snapshots, want) {
		t.Errorf("removed snapshots %v, want %v", res.Snapshots, want)
	}
	// Children first: the fake refuses to remove a parent with a child.
	if len(res.Errors) != 0 {
		t.Errorf("errors: %v", res.Errors)
	}
	if res.Bytes != int64(len("garbage"))+4*10 {
		t.Errorf("bytes %d", res.Bytes)
	}
}

// The rule: any error while marking removes nothing at all.
func TestCollectAbortsOnAnyMarkingError(t *testing.T) {
	ioErr := errors.New("input/output error")
	cases := map[string]func(w *world){
		"undecodable image record":     func(w *world) { w.meta.put("default", KindImages, "broken", []byte("{not json")) },
		"undecodable container record": func(w *world) { w.meta.put("default", KindContainers, "broken", []byte(`{"snapshot_key": 7}`)) },
		"undecodable lease record":     func(w *world) { w.meta.put("other", KindLeases, "broken", []byte(`[]`)) },
		"failed read of a manifest":    func(w *world) { w.cont.readErr[w.mf] = ioErr },
		"failed read of an index":      func(w *world) { w.cont.readErr[w.index] = ioErr },
		"manifest too large":           func(w *world) { w.cont.readErr[w.mf] = fmt.Errorf("too large: %w", errdefs.ErrInvalidArgument) },
		"undecodable manifest":         func(w *world) { w.cont.blobs[w.mf] = []byte("{") },
		"failed record scan":           func(w *world) { w.meta.err = ioErr },
		"failed snapshot listing":      func(w *world) { w.snaps.listErr = ioErr },
		"failed blob listing":          func(w *world) { w.cont.listErr = ioErr },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWorld()
			breakIt(w)
			blobs, snaps := w.state()
			res, err := w.collector().Collect(context.Background())
			if err == nil {
				t.Fatalf("collected %+v, want an error", res)
			}
			if !strings.Contains(err.Error(), "nothing removed") {
				t.Errorf("error %q does not say nothing was removed", err)
			}
			b2, s2 := w.state()
			if !reflect.DeepEqual(blobs, b2) || !reflect.DeepEqual(snaps, s2) || len(w.snaps.removed) != 0 {
				t.Fatalf("removed something: blobs %v -> %v, snapshots %v -> %v", blobs, b2, snaps, s2)
			}
			if len(res.Blobs)+len(res.Snapshots) != 0 {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

func TestCollectLeaseWindow(t *testing.T) {
	w := newWorld()
	// A client's lease (no resources) taken before the garbage was made.
	w.meta.put("default", KindLeases, "client", Lease{ID: "client", CreatedAt: t0.Add(-time.Minute)})
	res, err := w.collector().Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blobs) != 0 || len(res.Snapshots) != 0 {
		t.Fatalf("removed under a client's lease: %+v", res)
	}
	// Expired, it protects nothing.
	w.meta.put("default", KindLeases, "client", Lease{ID: "client", CreatedAt: t0.Add(-time.Minute), ExpiresAt: t0})
	res, err = w.collector().Collect(context.Background())
	if err != nil || len(res.Blobs) != 1 {
		t.Fatalf("after expiry: %v %+v", err, res)
	}
}

func TestCollectGoesOnAfterARemovalError(t *testing.T) {
	w := newWorld()
	other := w.cont.add([]byte("more garbage"), t0)
	w.cont.delErr[w.garbage] = errors.New("busy")
	res, err := w.collector().Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || !reflect.DeepEqual(res.Blobs, []string{other.String()}) {
		t.Fatalf("result %+v", res)
	}
}
