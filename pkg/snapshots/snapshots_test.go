package snapshots

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("test needs root")
		}
		t.Skip("test needs root")
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.Prepare(ctx, "k1", "", nil)
	if err != nil || len(m) != 1 || m[0].Type != "bind" {
		t.Fatalf("prepare: %v %+v", err, m)
	}
	os.WriteFile(filepath.Join(m[0].Source, "a"), []byte("a"), 0o644)
	if _, err := s.Prepare(ctx, "k1", "", nil); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("dup: %v", err)
	}
	if err := s.Commit(ctx, "c1", "k1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(ctx, "x", "nope", nil); !errdefs.IsNotFound(err) {
		t.Fatalf("missing parent: %v", err)
	}
	m, err = s.Prepare(ctx, "k2", "c1", nil)
	if err != nil || m[0].Type != "overlay" || !strings.Contains(strings.Join(m[0].Options, ","), "upperdir=") {
		t.Fatalf("prepare on parent: %v %+v", err, m)
	}
	if _, err := s.Prepare(ctx, "k3", "k2", nil); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("active parent: %v", err)
	}
	v, err := s.View(ctx, "v", "c1", nil)
	if err != nil || v[0].Type != "bind" || v[0].Options[0] != "ro" {
		t.Fatalf("view: %v %+v", err, v)
	}
	if err := s.Remove(ctx, "c1"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("remove with children: %v", err)
	}
	info, err := s.Stat(ctx, "k2")
	if err != nil || info.Parent != "c1" || info.Kind != KindActive {
		t.Fatalf("stat: %v %+v", err, info)
	}
	l, _ := s.List(ctx)
	if len(l) != 3 {
		t.Fatalf("list: %+v", l)
	}
	for _, k := range []string{"k2", "v", "c1"} {
		if err := s.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	if len(ents) != 0 {
		t.Fatalf("leftover dirs: %v", ents)
	}
	// Interrupted work is removed by label.
	s.Prepare(ctx, "tmp1", "", map[string]string{"x.tmp": ""})
	s.Prepare(ctx, "keep", "", nil)
	if err := s.RemoveActiveLabeled("x.tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "tmp1"); !errdefs.IsNotFound(err) {
		t.Fatalf("labeled snapshot kept: %v", err)
	}
	if err := s.Remove(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	// Orphan dirs are removed on open.
	os.MkdirAll(filepath.Join(root, "snapshots", "99", "fs"), 0o755)
	s.Close()
	s, _ = New(root)
	if _, err := os.Stat(filepath.Join(root, "snapshots", "99")); err == nil {
		t.Fatal("orphan kept")
	}
}

// A chain too long for mount(2)'s one-page options still mounts (through
// fsconfig "lowerdir+"), with every layer visible.
func TestManyLayers(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s, err := New(t.TempDir() + "/" + strings.Repeat("x", 100))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	parent := ""
	const n = 130
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("k%d", i)
		m, err := s.Prepare(ctx, k, parent, nil)
		if err != nil {
			t.Fatal(err)
		}
		up, _ := s.UpperDir(ctx, k)
		os.WriteFile(filepath.Join(up, k), nil, 0o644)
		_ = m
		if err := s.Commit(ctx, "c"+k, k, nil); err != nil {
			t.Fatal(err)
		}
		parent = "c" + k
	}
	m, err := s.Prepare(ctx, "top", parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(m[0].Options, ","), "lowerdir+=") {
		t.Fatalf("expected lowerdir+ options: %v", m[0].Options[:3])
	}
	target := t.TempDir()
	if err := MountAll(m, target); err != nil {
		t.Fatal(err)
	}
	defer Unmount(target)
	ents, err := os.ReadDir(target)
	if err != nil || len(ents) != n {
		t.Fatalf("%d entries, want %d: %v", len(ents), n, err)
	}
	if err := os.WriteFile(filepath.Join(target, "new"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOverlayMount(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, _ := s.Prepare(ctx, "k1", "", nil)
	os.WriteFile(filepath.Join(m[0].Source, "lower"), []byte("l"), 0o644)
	s.Commit(ctx, "c1", "k1", nil)
	m, err = s.Prepare(ctx, "k2", "c1", nil)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := MountAll(m, target); err != nil {
		t.Fatal(err)
	}
	defer Unmount(target)
	if b, err := os.ReadFile(filepath.Join(target, "lower")); err != nil || string(b) != "l" {
		t.Fatalf("lower not visible: %v", err)
	}
	if err := os.WriteFile(filepath.Join(target, "upper"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	up, _ := s.UpperDir(ctx, "k2")
	if _, err := os.Stat(filepath.Join(up, "upper")); err != nil {
		t.Fatal("write did not reach upperdir")
	}
	v, _ := s.View(ctx, "v", "c1", nil)
	if err := MountAll(v, target); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o644); err == nil {
		t.Fatal("view is writable")
	}
	Unmount(target)
}
