package build

import (
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A cache source extends an image only when that image's history entries
// (all fields, times compared as instants) and layers are its prefix.
func TestCacheSourceExtends(t *testing.T) {
	t0 := time.Unix(100, 5)
	tz := t0.In(time.FixedZone("x", 3600))
	h := []ocispec.History{{Created: &t0, CreatedBy: "base"}, {Created: &t0, CreatedBy: "/bin/sh -c #(nop) ENV A=1", EmptyLayer: true}, {CreatedBy: "RUN x"}}
	d := []digest.Digest{digest.FromString("l0"), digest.FromString("l1")}
	s := &cacheSource{history: h, diffIDs: d}
	for _, tc := range []struct {
		name string
		h    []ocispec.History
		d    []digest.Digest
		want bool
	}{
		{"scratch", nil, nil, true},
		{"base", h[:1], d[:1], true},
		{"same time in another zone", []ocispec.History{{Created: &tz, CreatedBy: "base"}}, d[:1], true},
		{"whole", h, d, true},
		{"other entry", []ocispec.History{{Created: &t0, CreatedBy: "other"}}, d[:1], false},
		{"other time", []ocispec.History{{CreatedBy: "base"}}, d[:1], false},
		{"other layer", h[:1], []digest.Digest{digest.FromString("x")}, false},
		{"longer", append(h[:3:3], ocispec.History{CreatedBy: "more"}), d, false},
		{"an entry with a layer and no layer", h[:2], nil, false},
	} {
		if got := s.extends(tc.h, tc.d); got != tc.want {
			t.Errorf("%s: extends %v, want %v", tc.name, got, tc.want)
		}
	}
}

// COPY's created_by is dockerd's "COPY file:<hash> in DEST " with the
// hash of what the layer gets: file for one file, dir for one directory,
// multi for several; --link and --chown are named.
func TestCopyComment(t *testing.T) {
	comment := func(a copyArgs, add func(*layerWriter)) string {
		lw := newLayerWriter(&strings.Builder{})
		add(lw)
		return copyComment("COPY", a, lw)
	}
	rule := copyRule{dest: "/app", destIsDir: true}
	one := func(content string) func(*layerWriter) {
		return func(lw *layerWriter) { lw.addFile("a.txt", []byte(content), rule) }
	}
	a := copyArgs{sd: instructions.SourcesAndDest{DestPath: "/app/"}}
	c1, c2 := comment(a, one("x")), comment(a, one("y"))
	if !strings.HasPrefix(c1, "COPY file:") || !strings.HasSuffix(c1, " in /app/ ") || c1 == c2 {
		t.Errorf("comments %q and %q", c1, c2)
	}
	if c := comment(a, func(lw *layerWriter) { one("x")(lw); one("y")(lw) }); !strings.HasPrefix(c, "COPY multi:") {
		t.Errorf("two sources: %q", c)
	}
	a.link, a.chown = true, "1000:1000"
	if c := comment(a, one("x")); !strings.HasPrefix(c, "COPY --link --chown=1000:1000 file:") {
		t.Errorf("--link --chown: %q", c)
	}
}
