package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/testprereq"
)

// A symlink that appears in the rootfs after the destination was resolved
// (the CVE-2021-30465 race, here simply made before the call) cannot take
// the mount target out of the rootfs: at resolves it as if rootfs were "/".
func TestMountTargetStaysInRootfs(t *testing.T) {
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(rootfs, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../etc", filepath.Join(rootfs, "up")); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	o := &Options{Rootfs: rootfs, rootFd: fd, hasRoot: true}
	for _, dest := range []string{"link/etc", "up", "etc"} {
		name, done, err := o.at(filepath.Join(rootfs, dest))
		if err != nil {
			testprereq.Require(t, err != unix.ENOSYS, "openat2")
			t.Fatalf("%s: %v", dest, err)
		}
		got, err := os.Readlink(name)
		done()
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(rootfs, "etc"); got != want {
			t.Errorf("%s resolves to %s, want %s", dest, got, want)
		}
	}
	if _, _, err := o.at("/etc"); err == nil {
		t.Error("a target outside the rootfs was accepted")
	}
}
