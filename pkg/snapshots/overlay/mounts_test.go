package overlay

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/namespaces"
)

// The overlay-specific shape of the mounts: an upperdir over the parents,
// and one "lowerdir+=" per layer once they no longer fit in one page.
func TestMountOptions(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), "t")
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	parent := ""
	for i := 0; i < 200; i++ {
		k := fmt.Sprint("k", i)
		if _, err := s.Prepare(ctx, k, parent, nil); err != nil {
			t.Fatal(err)
		}
		parent = fmt.Sprint("c", i)
		if err := s.Commit(ctx, parent, k, nil); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			m, _ := s.Prepare(ctx, "short", parent, nil)
			opts := strings.Join(m[0].Options, ",")
			if m[0].Type != "overlay" || !strings.Contains(opts, "lowerdir=") || !strings.Contains(opts, "upperdir=") || !strings.Contains(opts, "workdir=") {
				t.Fatalf("mounts on one layer: %+v", m)
			}
		}
	}
	m, err := s.Prepare(ctx, "long", parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range m[0].Options {
		if strings.HasPrefix(o, "lowerdir+=") {
			n++
		}
	}
	if n != 200 {
		t.Fatalf("%d lowerdir+ options, want 200", n)
	}
}
