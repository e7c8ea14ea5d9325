// Package testsuite is the conformance suite every Snapshotter passes: the
// same behaviour, seen only through the interface and the mounts it returns.
// An implementation's test calls Run with a constructor.
package testsuite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/snapshots"
	"github.com/berthd/berth/pkg/testprereq"
)

// New opens a snapshotter rooted at root (a fresh directory, or one a
// previous New of the same test used: reopening must keep the snapshots).
type New func(root string) (snapshots.Snapshotter, error)

// Run runs every conformance test. Those that mount need root: they fail
// under CI=true without it, and are skipped otherwise.
func Run(t *testing.T, newSn New) {
	tests := []struct {
		name  string
		root  bool
		check func(*testing.T, context.Context, snapshots.Snapshotter, string)
	}{
		{"Lifecycle", false, lifecycle},
		{"Errors", false, errorsTest},
		{"Namespaces", false, namespacesTest},
		{"RemoveActiveLabeled", false, removeLabeled},
		{"ViewMounts", false, viewMounts},
		{"Reopen", false, nil},
		{"Layers", true, layers},
		{"Attributes", true, attributes},
		{"Deletions", true, deletions},
		{"ViewReadOnly", true, viewReadOnly},
		{"Usage", true, usage},
		{"ManyLayers", true, manyLayers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				needRoot(t)
			}
			root := filepath.Join(t.TempDir(), "sn")
			sn, err := newSn(root)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sn.Close() })
			ctx := namespaces.WithNamespace(context.Background(), "testsuite")
			if tc.check == nil {
				reopen(t, ctx, sn, root, newSn)
				return
			}
			tc.check(t, ctx, sn, root)
		})
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	testprereq.Root(t)
}

// mount mounts ms on a fresh directory, unmounted at the end of the test.
func mount(t *testing.T, ms []snapshots.Mount) string {
	t.Helper()
	dir := t.TempDir()
	if err := snapshots.MountAll(ms, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snapshots.Unmount(dir) })
	return dir
}

func unmount(t *testing.T, dir string) {
	t.Helper()
	if err := snapshots.Unmount(dir); err != nil {
		t.Fatal(err)
	}
}

// commitLayer prepares key on parent, lets write change the mounted tree,
// and commits it as name.
func commitLayer(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, name, parent string, write func(dir string)) {
	t.Helper()
	key := "active-" + name
	ms, err := sn.Prepare(ctx, key, parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := mount(t, ms)
	write(dir)
	unmount(t, dir)
	if err := sn.Commit(ctx, name, key, nil); err != nil {
		t.Fatal(err)
	}
}

func lifecycle(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	if _, err := sn.Prepare(ctx, "k1", "", map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	info, err := sn.Stat(ctx, "k1")
	if err != nil || info.Kind != snapshots.KindActive || info.Parent != "" || info.Labels["a"] != "1" || info.Name != "k1" {
		t.Fatalf("stat active: %v %+v", err, info)
	}
	if _, err := sn.Mounts(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(ctx, "c1", "k1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, "k1"); !errdefs.IsNotFound(err) {
		t.Fatalf("key still there after commit: %v", err)
	}
	info, err = sn.Stat(ctx, "c1")
	if err != nil || info.Kind != snapshots.KindCommitted || info.Labels["a"] != "1" {
		t.Fatalf("stat committed: %v %+v", err, info)
	}
	if _, err := sn.Prepare(ctx, "k2", "c1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.View(ctx, "v1", "c1", nil); err != nil {
		t.Fatal(err)
	}
	info, err = sn.Stat(ctx, "v1")
	if err != nil || info.Kind != snapshots.KindView || info.Parent != "c1" {
		t.Fatalf("stat view: %v %+v", err, info)
	}
	l, err := sn.List(ctx)
	if err != nil || len(l) != 3 {
		t.Fatalf("list: %v %+v", err, l)
	}
	for _, k := range []string{"k2", "v1", "c1"} {
		if err := sn.Remove(ctx, k); err != nil {
			t.Fatalf("remove %s: %v", k, err)
		}
	}
	if l, _ := sn.List(ctx); len(l) != 0 {
		t.Fatalf("left after remove: %+v", l)
	}
}

func errorsTest(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	sn.Prepare(ctx, "k1", "", nil)
	if _, err := sn.Prepare(ctx, "k1", "", nil); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("same key: %v", err)
	}
	if _, err := sn.Prepare(ctx, "x", "nope", nil); !errdefs.IsNotFound(err) {
		t.Fatalf("missing parent: %v", err)
	}
	if _, err := sn.Prepare(ctx, "x", "k1", nil); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("active parent: %v", err)
	}
	if _, err := sn.View(ctx, "x", "k1", nil); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("view of an active snapshot: %v", err)
	}
	if _, err := sn.Prepare(ctx, "", "", nil); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("empty key: %v", err)
	}
	if err := sn.Commit(ctx, "c1", "k1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Mounts(ctx, "c1"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("mounts of committed: %v", err)
	}
	if err := sn.Commit(ctx, "c2", "c1", nil); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("commit of committed: %v", err)
	}
	sn.View(ctx, "v", "c1", nil)
	if err := sn.Commit(ctx, "c2", "v", nil); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("commit of a view: %v", err)
	}
	sn.Prepare(ctx, "k2", "", nil)
	if err := sn.Commit(ctx, "c1", "k2", nil); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("commit onto a taken name: %v", err)
	}
	if _, err := sn.Stat(ctx, "k2"); err != nil {
		t.Fatalf("failed commit lost the active snapshot: %v", err)
	}
	if err := sn.Remove(ctx, "c1"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("remove with a child: %v", err)
	}
	for _, op := range []error{
		sn.Remove(ctx, "nope"), sn.Commit(ctx, "n", "nope", nil),
		func() error { _, err := sn.Mounts(ctx, "nope"); return err }(),
		func() error { _, err := sn.Stat(ctx, "nope"); return err }(),
		func() error { _, _, err := sn.Usage(ctx, "nope"); return err }(),
	} {
		if !errdefs.IsNotFound(op) {
			t.Fatalf("missing key: %v", op)
		}
	}
}

func namespacesTest(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	other := namespaces.WithNamespace(context.Background(), "other")
	if _, err := sn.Prepare(ctx, "k", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(other, "k"); !errdefs.IsNotFound(err) {
		t.Fatalf("key seen from another namespace: %v", err)
	}
	if _, err := sn.Prepare(other, "k", "", nil); err != nil {
		t.Fatalf("same key in another namespace: %v", err)
	}
	if err := sn.Commit(ctx, "c", "k", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(other, "x", "c", nil); !errdefs.IsNotFound(err) {
		t.Fatalf("parent of another namespace: %v", err)
	}
	ns, err := sn.Namespaces()
	if err != nil || strings.Join(ns, ",") != "other,testsuite" {
		t.Fatalf("namespaces: %v %v", err, ns)
	}
}

func removeLabeled(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	sn.Prepare(ctx, "tmp", "", map[string]string{"x.tmp": ""})
	sn.Prepare(ctx, "keep", "", nil)
	sn.Prepare(ctx, "c", "", map[string]string{"x.tmp": ""})
	if err := sn.Commit(ctx, "committed", "c", nil); err != nil {
		t.Fatal(err)
	}
	sn.Prepare(ctx, "spared", "", map[string]string{"x.tmp": "yes"})
	ns, _ := namespaces.NamespaceRequired(ctx)
	var asked []string
	keep := func(n, key, v string) bool {
		asked = append(asked, n+"/"+key+"="+v)
		return v == "yes"
	}
	if err := sn.RemoveActiveLabeled("x.tmp", keep); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, "tmp"); !errdefs.IsNotFound(err) {
		t.Fatalf("labeled active snapshot kept: %v", err)
	}
	if want := []string{ns + "/spared=yes", ns + "/tmp="}; !slices.Equal(asked, want) {
		t.Errorf("keep asked about %q, want %q", asked, want)
	}
	for _, k := range []string{"keep", "committed", "spared"} {
		if _, err := sn.Stat(ctx, k); err != nil {
			t.Fatalf("%s removed: %v", k, err)
		}
	}
}

// reopen: snapshots survive a restart; directories without a record (a crash
// mid-create or mid-remove) do not.
func reopen(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, root string, newSn New) {
	sn.Prepare(ctx, "k", "", nil)
	if err := sn.Commit(ctx, "c", "k", nil); err != nil {
		t.Fatal(err)
	}
	before := dirs(t, root)
	if err := os.MkdirAll(filepath.Join(root, "snapshots", "9999", "fs"), 0o755); err != nil {
		t.Fatal(err)
	}
	sn.Close()
	sn2, err := newSn(root)
	if err != nil {
		t.Fatal(err)
	}
	defer sn2.Close()
	if info, err := sn2.Stat(ctx, "c"); err != nil || info.Kind != snapshots.KindCommitted {
		t.Fatalf("after reopen: %v %+v", err, info)
	}
	if after := dirs(t, root); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("snapshot dirs %v, want %v (orphan kept?)", after, before)
	}
	if err := sn2.Remove(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if left := dirs(t, root); len(left) != 0 {
		t.Fatalf("dirs left after remove: %v", left)
	}
}

func dirs(t *testing.T, root string) []string {
	ents, err := os.ReadDir(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// layers: a child sees its parent's files; what it writes stays its own.
func layers(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	commitLayer(t, ctx, sn, "base", "", func(dir string) {
		must(t, os.WriteFile(filepath.Join(dir, "base"), []byte("b"), 0o644))
		must(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	})
	ms, err := sn.Prepare(ctx, "c1", "base", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := mount(t, ms)
	if b, err := os.ReadFile(filepath.Join(dir, "base")); err != nil || string(b) != "b" {
		t.Fatalf("parent's file: %q %v", b, err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "base"), []byte("changed"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "d", "new"), nil, 0o644))
	unmount(t, dir)
	// Mounts again gives the same tree.
	ms, err = sn.Mounts(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	dir = mount(t, ms)
	if b, _ := os.ReadFile(filepath.Join(dir, "base")); string(b) != "changed" {
		t.Fatalf("own write lost: %q", b)
	}
	unmount(t, dir)
	// A sibling and a view of the parent see the parent unchanged.
	ms, _ = sn.Prepare(ctx, "c2", "base", nil)
	dir = mount(t, ms)
	if b, _ := os.ReadFile(filepath.Join(dir, "base")); string(b) != "b" {
		t.Fatalf("sibling sees %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "d", "new")); err == nil {
		t.Fatal("sibling sees the other child's file")
	}
	unmount(t, dir)
	if err := sn.Commit(ctx, "top", "c1", nil); err != nil {
		t.Fatal(err)
	}
	ms, err = sn.View(ctx, "v", "top", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir = mount(t, ms)
	if _, err := os.Stat(filepath.Join(dir, "d", "new")); err != nil {
		t.Fatalf("view of the top layer: %v", err)
	}
}

// attributes: what a layer can carry survives into a child snapshot.
func attributes(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	mtime := unix.NsecToTimespec(1_000_000_000_123)
	commitLayer(t, ctx, sn, "attrs", "", func(dir string) {
		p := func(n string) string { return filepath.Join(dir, n) }
		must(t, os.WriteFile(p("suid"), []byte("x"), 0o644))
		must(t, os.Chown(p("suid"), 1000, 2000))
		must(t, unix.Chmod(p("suid"), 0o4755)) // os.Chmod wants os.ModeSetuid
		must(t, os.Mkdir(p("sticky"), 0o755))
		must(t, unix.Chmod(p("sticky"), 0o1777))
		must(t, os.WriteFile(p("big"), make([]byte, 3<<20+17), 0o600))
		must(t, os.Link(p("big"), p("hardlink")))
		must(t, os.Symlink("/etc/passwd", p("abs-link")))
		must(t, os.Lchown(p("abs-link"), 7, 8))
		must(t, unix.Mknod(p("null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(t, unix.Mkfifo(p("fifo"), 0o640))
		must(t, unix.Chmod(p("null"), 0o666)) // past the umask
		must(t, unix.Setxattr(p("suid"), "user.test", []byte("v"), 0))
		must(t, unix.Setxattr(p("sticky"), "trusted.test", []byte("t"), 0))
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p("suid"), []unix.Timespec{mtime, mtime}, 0))
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p("abs-link"), []unix.Timespec{mtime, mtime}, unix.AT_SYMLINK_NOFOLLOW))
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p("sticky"), []unix.Timespec{mtime, mtime}, 0))
	})
	ms, err := sn.Prepare(ctx, "child", "attrs", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := mount(t, ms)
	p := func(n string) string { return filepath.Join(dir, n) }
	st := func(n string) unix.Stat_t {
		var s unix.Stat_t
		must(t, unix.Lstat(p(n), &s))
		return s
	}
	if s := st("suid"); s.Mode != unix.S_IFREG|0o4755 || s.Uid != 1000 || s.Gid != 2000 || s.Mtim != mtime {
		t.Errorf("suid: mode %o owner %d:%d mtime %v", s.Mode, s.Uid, s.Gid, s.Mtim)
	}
	if s := st("sticky"); s.Mode != unix.S_IFDIR|0o1777 || s.Mtim != mtime {
		t.Errorf("sticky: mode %o mtime %v", s.Mode, s.Mtim)
	}
	if a, b := st("big"), st("hardlink"); a.Ino != b.Ino || a.Size != 3<<20+17 {
		t.Errorf("hardlink: inodes %d %d, size %d", a.Ino, b.Ino, a.Size)
	}
	if l, err := os.Readlink(p("abs-link")); err != nil || l != "/etc/passwd" {
		t.Errorf("symlink: %q %v", l, err)
	}
	if s := st("abs-link"); s.Uid != 7 || s.Gid != 8 || s.Mtim != mtime {
		t.Errorf("symlink owner %d:%d mtime %v", s.Uid, s.Gid, s.Mtim)
	}
	if s := st("null"); s.Mode != unix.S_IFCHR|0o666 || s.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("device: mode %o rdev %x", s.Mode, s.Rdev)
	}
	if s := st("fifo"); s.Mode != unix.S_IFIFO|0o640 {
		t.Errorf("fifo: mode %o", s.Mode)
	}
	for f, want := range map[string]string{"suid/user.test": "v", "sticky/trusted.test": "t"} {
		file, name, _ := strings.Cut(f, "/")
		buf := make([]byte, 16)
		n, err := unix.Lgetxattr(p(file), name, buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("xattr %s: %q %v", f, buf[:max(n, 0)], err)
		}
	}
	// Writing through the hardlink in the child leaves the parent alone.
	must(t, os.WriteFile(p("hardlink"), []byte("child"), 0o600))
	unmount(t, dir)
	ms, _ = sn.View(ctx, "v", "attrs", nil)
	dir = mount(t, ms)
	if fi, err := os.Stat(filepath.Join(dir, "big")); err != nil || fi.Size() != 3<<20+17 {
		t.Fatalf("parent changed through a child: %v %v", fi, err)
	}
}

// deletions in a child hide the parent's files and directories, and leave
// no whiteout visible in the mounted tree.
func deletions(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	commitLayer(t, ctx, sn, "l1", "", func(dir string) {
		must(t, os.MkdirAll(filepath.Join(dir, "dir", "sub"), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "dir", "sub", "f"), nil, 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "gone"), nil, 0o644))
	})
	commitLayer(t, ctx, sn, "l2", "l1", func(dir string) {
		must(t, os.Remove(filepath.Join(dir, "gone")))
		must(t, os.RemoveAll(filepath.Join(dir, "dir")))
		must(t, os.Mkdir(filepath.Join(dir, "dir"), 0o700)) // back, empty
	})
	ms, err := sn.View(ctx, "v", "l2", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := mount(t, ms)
	if _, err := os.Lstat(filepath.Join(dir, "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted file: %v", err)
	}
	if ents, err := os.ReadDir(filepath.Join(dir, "dir")); err != nil || len(ents) != 0 {
		t.Errorf("recreated dir shows %v %v", ents, err)
	}
}

func viewReadOnly(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	commitLayer(t, ctx, sn, "l1", "", func(dir string) {
		must(t, os.WriteFile(filepath.Join(dir, "f"), nil, 0o644))
	})
	for _, parent := range []string{"", "l1"} {
		ms, err := sn.View(ctx, "v"+parent, parent, nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := mount(t, ms)
		if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
			t.Fatalf("view of %q writable: %v", parent, err)
		}
	}
}

// viewMounts: the mounts of a view, without the view's record.
func viewMounts(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	for _, l := range [][2]string{{"l1", ""}, {"l2", "l1"}, {"l3", "l2"}} {
		if _, err := sn.Prepare(ctx, "a-"+l[0], l[1], nil); err != nil {
			t.Fatal(err)
		}
		must(t, sn.Commit(ctx, l[0], "a-"+l[0], nil))
	}
	if _, err := sn.Prepare(ctx, "active", "l3", nil); err != nil {
		t.Fatal(err)
	}
	before, err := sn.List(ctx)
	must(t, err)
	var got [][]snapshots.Mount
	for _, name := range []string{"l1", "l2", "l3"} {
		ms, err := sn.ViewMounts(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got = append(got, ms)
	}
	if after, err := sn.List(ctx); err != nil || len(after) != len(before) {
		t.Fatalf("ViewMounts recorded snapshots: %d, were %d (%v)", len(after), len(before), err)
	}
	for i, name := range []string{"l1", "l2", "l3"} {
		want, err := sn.View(ctx, "v-"+name, name, nil)
		must(t, err)
		if fmt.Sprint(got[i]) != fmt.Sprint(want) {
			t.Errorf("ViewMounts(%s) = %v, a view's are %v", name, got[i], want)
		}
	}
	for _, key := range []string{"active", "v-l1"} {
		if _, err := sn.ViewMounts(ctx, key); !errdefs.IsFailedPrecondition(err) {
			t.Errorf("ViewMounts of %s: %v, want FailedPrecondition", key, err)
		}
	}
	if _, err := sn.ViewMounts(ctx, "nosuch"); !errdefs.IsNotFound(err) {
		t.Errorf("ViewMounts of nosuch: %v, want NotFound", err)
	}
}

func usage(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	commitLayer(t, ctx, sn, "l1", "", func(dir string) {
		must(t, os.WriteFile(filepath.Join(dir, "a"), make([]byte, 1<<20), 0o644))
		must(t, os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b")))
	})
	size, inodes, err := sn.Usage(ctx, "l1")
	// The root directory, and one file linked twice.
	if err != nil || size < 1<<20 || size > 1<<20+64<<10 || inodes != 2 {
		t.Fatalf("usage: %d bytes %d inodes %v", size, inodes, err)
	}
}

// manyLayers: a chain longer than mount(2)'s one page of options mounts,
// every layer visible.
func manyLayers(t *testing.T, ctx context.Context, sn snapshots.Snapshotter, _ string) {
	const n = 130
	parent := ""
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("layer-%03d-%s", i, strings.Repeat("x", 20))
		commitLayer(t, ctx, sn, name, parent, func(dir string) {
			must(t, os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), nil, 0o644))
		})
		parent = name
	}
	ms, err := sn.Prepare(ctx, "top", parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := mount(t, ms)
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != n {
		t.Fatalf("%d entries, want %d: %v", len(ents), n, err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "new"), nil, 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
