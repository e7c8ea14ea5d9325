package logfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestList(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	for _, name := range []string{"c.log", "c.log.1", "c.log.1.gz", "c.log.1.gz.tmp", "c.log.2.gz", "c.log.10", "c.log.01", "c.log.x", "c.log.0", "other.log.3", "c.logger"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, err := List(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f.Path))
	}
	// Oldest first; a plain .1 wins over its (unfinished) .gz.
	if strings.Join(got, " ") != "c.log.10 c.log.2.gz c.log.1 c.log" {
		t.Fatalf("got %q", got)
	}
	if !files[1].Compressed || files[2].Compressed || files[3].Index != 0 || files[0].Index != 10 {
		t.Fatalf("%+v", files)
	}
	if files, err := List(filepath.Join(dir, "missing", "c.log")); err != nil || len(files) != 0 {
		t.Fatalf("missing dir: %v %v", files, err)
	}
	if Rotated(path, 3, true) != path+".3.gz" || Rotated(path, 1, false) != path+".1" {
		t.Fatal("Rotated")
	}
}

// tryLock tries an exclusive lock on dir without waiting.
func tryLock(t *testing.T, dir string) bool {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil
}

// Shared locks coexist and keep an exclusive one out; unlock releases.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	unlockR, err := Lock(path, false)
	if err != nil {
		t.Fatal(err)
	}
	unlockR2, err := Lock(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if tryLock(t, dir) {
		t.Fatal("exclusive lock taken while readers hold the shared one")
	}
	unlockR()
	unlockR2()
	if !tryLock(t, dir) {
		t.Fatal("lock not released")
	}
	unlockW, err := Lock(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if tryLock(t, dir) {
		t.Fatal("two exclusive locks")
	}
	unlockW()
	if _, err := Lock(filepath.Join(dir, "missing", "c.log"), true); err == nil {
		t.Fatal("locked a missing directory")
	}
}
