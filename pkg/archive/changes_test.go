package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDiffTrees(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	old := time.Unix(1700000000, 0)
	for _, root := range []string{lower, upper} {
		for _, d := range []string{"d", "gone-dir", "gone-dir/sub"} {
			os.Mkdir(filepath.Join(root, d), 0o755)
		}
		for _, f := range []string{"d/same", "d/changed", "gone", "gone-dir/sub/f"} {
			os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644)
			os.Chtimes(filepath.Join(root, f), old, old)
		}
		for _, d := range []string{"gone-dir/sub", "gone-dir", "d"} {
			os.Chtimes(filepath.Join(root, d), old, old)
		}
		os.Chtimes(root, old, old)
	}
	os.WriteFile(filepath.Join(upper, "d/changed"), []byte("yy"), 0o644)
	os.Chtimes(filepath.Join(upper, "d"), old, old)
	os.Remove(filepath.Join(upper, "gone"))
	os.RemoveAll(filepath.Join(upper, "gone-dir"))
	os.WriteFile(filepath.Join(upper, "new"), []byte("n"), 0o600)
	os.Symlink("/etc/passwd", filepath.Join(upper, "link"))

	d, err := DiffTrees(upper, lower, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range d.Changes {
		got = append(got, c.Kind.String()+" "+c.Path)
	}
	want := []string{"C /d/changed", "D /gone", "D /gone-dir", "A /link", "A /new"}
	if len(got) != len(want) {
		t.Fatalf("changes %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("changes %q, want %q", got, want)
		}
	}
	var buf bytes.Buffer
	if err := d.WriteTar(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "link" && (h.Typeflag != tar.TypeSymlink || h.Linkname != "/etc/passwd") {
			t.Errorf("link: %+v", h)
		}
	}
	wantNames := []string{".wh.gone", ".wh.gone-dir", "d/", "d/changed", "link", "new"}
	if len(names) != len(wantNames) {
		t.Fatalf("entries %q, want %q", names, wantNames)
	}
	for i := range names {
		if names[i] != wantNames[i] {
			t.Fatalf("entries %q, want %q", names, wantNames)
		}
	}
}

func TestDiffTreesExclude(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	old := time.Unix(1700000000, 0)
	for _, root := range []string{lower, upper} {
		os.Mkdir(filepath.Join(root, "etc"), 0o755)
		os.Chtimes(filepath.Join(root, "etc"), old, old)
	}
	// A mount point made in etc changes its mtime: no change of etc's.
	os.WriteFile(filepath.Join(upper, "etc/hostname"), nil, 0o644)
	os.Mkdir(filepath.Join(upper, "proc"), 0o755)
	os.WriteFile(filepath.Join(upper, "proc/x"), nil, 0o644)
	d, err := DiffTrees(upper, lower, []string{"/etc/hostname", "/proc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) != 0 || !d.Empty() {
		t.Fatalf("changes %v, entries %v: want none", d.Changes, d.entries)
	}
	os.WriteFile(filepath.Join(upper, "etc/new"), nil, 0o644)
	d, err = DiffTrees(upper, lower, []string{"/etc/hostname", "/proc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) != 2 || d.Changes[0] != (Change{"/etc", ChangeModify}) || d.Changes[1] != (Change{"/etc/new", ChangeAdd}) {
		t.Fatalf("changes %v", d.Changes)
	}
}

// A symlink to a host directory is a symlink in the layer: the diff never
// walks or reads through it.
func TestDiffNeverFollowsSymlinks(t *testing.T) {
	upper := t.TempDir()
	os.Symlink("/etc", filepath.Join(upper, "etc"))
	os.Symlink("../../../../etc/passwd", filepath.Join(upper, "pw"))
	for _, diff := range []func(string, string, []string) (*Diff, error){DiffTrees, DiffOverlay} {
		d, err := diff(upper, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Changes) != 2 || d.Changes[0].Path != "/etc" || d.Changes[1].Path != "/pw" {
			t.Fatalf("changes %v", d.Changes)
		}
		var buf bytes.Buffer
		if err := d.WriteTar(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag != tar.TypeSymlink {
				t.Errorf("entry %s of type %c: followed a symlink", h.Name, h.Typeflag)
			}
		}
	}
}

// An overlay upper dir holding only the runtime's mount points (and the
// directory copied up to hold them) changes nothing: its diff is empty, so
// a commit of a container that never ran adds no layer.
func TestDiffOverlayMountPointsOnly(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	old := time.Unix(1700000000, 0)
	for _, root := range []string{lower, upper} {
		os.Mkdir(filepath.Join(root, "etc"), 0o755)
		os.Chtimes(filepath.Join(root, "etc"), old, old)
	}
	os.WriteFile(filepath.Join(lower, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		os.WriteFile(filepath.Join(upper, "etc", f), nil, 0o644)
	}
	exclude := []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}
	d, err := DiffOverlay(upper, lower, exclude)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) != 0 || !d.Empty() {
		t.Fatalf("changes %v, empty %v: want none", d.Changes, d.Empty())
	}
	os.WriteFile(filepath.Join(upper, "etc/new"), nil, 0o644)
	if d, err = DiffOverlay(upper, lower, exclude); err != nil {
		t.Fatal(err)
	}
	if d.Empty() || len(d.Changes) != 2 {
		t.Fatalf("a file added: changes %v, empty %v", d.Changes, d.Empty())
	}
}
