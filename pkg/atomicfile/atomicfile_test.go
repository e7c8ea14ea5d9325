package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesAndLeavesNoTemp(t *testing.T) {
	for name, write := range map[string]func(string, []byte, os.FileMode) error{"WriteFile": WriteFile, "Replace": Replace} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "state.json")
			if err := write(p, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := write(p, []byte("new"), 0o640); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil || string(b) != "new" {
				t.Fatalf("content %q %v", b, err)
			}
			st, _ := os.Stat(p)
			if st.Mode().Perm() != 0o640 {
				t.Fatalf("mode %v", st.Mode())
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Fatalf("temporary files left: %v", ents)
			}
		})
	}
}

func TestWriteFileErrorLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A non-empty directory where the file should be: the rename fails, the
	// directory stays, and no temporary file is left beside it.
	if err := WriteFile(sub, []byte("x"), 0o600); err == nil {
		t.Fatal("replacing a directory succeeded")
	}
	if st, err := os.Stat(sub); err != nil || !st.IsDir() {
		t.Fatalf("directory lost: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

// A staged file is not at its path until Commit; Abort leaves only what
// was there.
func TestStage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Stage(p, []byte("dropped"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("staged content visible: %q", b)
	}
	st.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("abort left %v", ents)
	}
	if st, err = Stage(p, []byte("new"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if fi, _ := os.Stat(p); err != nil || string(b) != "new" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("committed: %q %v", b, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("commit left %v", ents)
	}
}

func TestWriteFileSyncLater(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	sync, err := WriteFileSyncLater(p, []byte("new"), 0o640)
	if err != nil {
		t.Fatal(err)
	}
	// In place, with its mode, before the sync.
	if b, err := os.ReadFile(p); err != nil || string(b) != "new" {
		t.Fatalf("before the sync: %q %v", b, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if err := sync(); err != nil {
		t.Fatal(err)
	}

	// A sync that comes after the file, and its directory, went.
	sync, err = WriteFileSyncLater(p, []byte("newer"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := sync(); err != nil {
		t.Fatalf("sync after removal: %v", err)
	}

	// A failed write leaves the old content and no temporary file.
	dir = t.TempDir()
	p = filepath.Join(dir, "config.json")
	if err := WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFileSyncLater(filepath.Join(dir, "missing", "x.json"), []byte("x"), 0o600); err == nil {
		t.Fatal("write into a missing directory: no error")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left: %v", ents)
	}
}
