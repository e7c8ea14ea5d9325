package container

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/testprereq"
)

// InitHelper runs inside a container's namespaces, so it is opened through
// the read-only overlay, or as a sealed memfd copy (CVE-2019-5736); and a
// missing helper is a clear error.
func TestProtectedHelper(t *testing.T) {
	testprereq.Root(t)
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(filepath.Dir(self), InitHelper)
	// The test binary's directory is go test's own: nothing else puts a
	// helper there.
	if _, err := os.Stat(helper); err == nil {
		t.Fatalf("%s exists beside the test binary", helper)
	}
	if _, err := protectedHelper(); err == nil || !strings.Contains(err.Error(), InitHelper) {
		t.Fatalf("missing helper: %v, want an error naming %s", err, InitHelper)
	}
	want := []byte("#!/bin/false\ninit helper\n")
	if err := os.WriteFile(helper, want, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(helper) })
	for name, get := range map[string]func() (*os.File, error){
		"protectedHelper": protectedHelper,
		"overlayHelper":   func() (*os.File, error) { return overlayHelper(helper) },
		"sealedCopy":      func() (*os.File, error) { return sealedCopy(helper, "berth-"+InitHelper) },
	} {
		h, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkProtected(t, name, h)
		got, err := os.ReadFile("/proc/self/fd/" + strconv.Itoa(int(h.Fd())))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: helper reads %q, %v", name, got, err)
		}
		h.Close()
	}
}

func checkProtected(t *testing.T, name string, f *os.File) {
	t.Helper()
	if f.Fd() < 100 {
		t.Errorf("%s: %s is fd %d, want 100 or more", name, f.Name(), f.Fd())
	}
	p := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	target, _ := os.Readlink(p)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(target, "/memfd:") && fs.Type != unix.OVERLAYFS_SUPER_MAGIC {
		t.Fatalf("%s: %s is %s (fs %#x), want a sealed memfd or a read-only overlay", name, f.Name(), target, fs.Type)
	}
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err == nil {
		_, err = w.Write([]byte("x"))
		w.Close()
		if err == nil {
			t.Fatalf("%s: %s is writable", name, f.Name())
		}
	} else if !strings.HasPrefix(target, "/memfd:") && !errors.Is(err, unix.EROFS) {
		t.Fatalf("%s: open %s for writing: %v, want EROFS", name, f.Name(), err)
	}
}
