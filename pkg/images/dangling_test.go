package images

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// recordOf is a record of name whose config and manifest are made of id.
func recordOf(name, id string) Image {
	return Image{
		Name:   name,
		Target: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("manifest " + id)},
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("config " + id)},
	}
}

func names(t *testing.T, s *Store) map[string]digest.Digest {
	t.Helper()
	all, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]digest.Digest{}
	for _, i := range all {
		out[i.Name] = i.ID()
	}
	return out
}

// TestMovedNameKeepsDanglingImage: the image a name leaves (commit, build,
// tag or pull of that name again) stays under its ID, as dockerd keeps a
// dangling image, unless another name still refers to it.
func TestMovedNameKeepsDanglingImage(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	const x, y = "docker.io/library/x:latest", "docker.io/library/y:latest"
	a, b, c := recordOf(x, "a"), recordOf(x, "b"), recordOf(x, "c")
	for _, i := range []Image{a, b} {
		if err := s.Record(ctx, []Image{i}); err != nil {
			t.Fatal(err)
		}
	}
	got := names(t, s)
	if len(got) != 2 || got[x] != b.ID() || got[a.ID().String()] != a.ID() {
		t.Fatalf("after x moved from a to b: %v", got)
	}
	kept, err := s.Get(ctx, a.ID().String())
	if err != nil || kept.Target.Digest != a.Target.Digest || kept.ChainID != a.ChainID {
		t.Fatalf("dangling a: %+v %v", kept, err)
	}
	// Recording the same image again leaves nothing behind.
	if err := s.Record(ctx, []Image{b}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, s); len(got) != 2 {
		t.Fatalf("after x recorded again: %v", got)
	}
	// Another name of b (here given in the same transaction) keeps it
	// named: no dangling record.
	yb := b
	yb.Name = y
	if err := s.Record(ctx, []Image{c, yb}); err != nil {
		t.Fatal(err)
	}
	got = names(t, s)
	if len(got) != 3 || got[x] != c.ID() || got[y] != b.ID() || got[b.ID().String()] != "" {
		t.Fatalf("after x moved from b (also y) to c: %v", got)
	}
	// A dangling record already there is kept as it is.
	if err := s.Record(ctx, []Image{a}); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, []Image{b}); err != nil {
		t.Fatal(err)
	}
	got = names(t, s)
	if len(got) != 4 || got[x] != b.ID() || got[a.ID().String()] != a.ID() || got[c.ID().String()] != c.ID() {
		t.Fatalf("after x moved a, c, then b: %v", got)
	}
}
