package e2e

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berthd/berth/pkg/testprereq"
)

// docker cp with --userns-remap: the container's owners in and out
// (the rootfs is ID-mapped, volumes are owned by the remapped root on the
// host), running and created.
func TestCpUsernsRemap(t *testing.T) {
	_, err := exec.LookPath("useradd")
	testprereq.Require(t, err == nil, "useradd and usermod (passwd)")
	s := newStackArgs(t, "--userns-remap", "default")
	s.loadBusybox()
	startS, _ := subRange(t)
	start, _ := strconv.Atoi(startS)
	f := filepath.Join(s.root, "f")
	os.WriteFile(f, []byte("x\n"), 0o644)
	owned := filepath.Join(s.root, "owned")
	os.WriteFile(owned, []byte("o\n"), 0o644)
	os.Chown(owned, 1234, 2345)

	tarOwner := func(c, p string) string {
		out := s.mustDocker("cp", c+":"+p, "-")
		h, err := tar.NewReader(bytes.NewReader([]byte(out))).Next()
		if err != nil {
			t.Fatalf("tar of %s:%s: %v", c, p, err)
		}
		return strconv.Itoa(h.Uid) + ":" + strconv.Itoa(h.Gid)
	}
	hostOwner := func(p string) string {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		return strconv.Itoa(int(sys.Uid)) + ":" + strconv.Itoa(int(sys.Gid))
	}
	root := strconv.Itoa(start) + ":" + strconv.Itoa(start)
	mapped := strconv.Itoa(start+1234) + ":" + strconv.Itoa(start+2345)

	s.mustDocker("run", "-d", "--name", "ur", "-v", "uvol:/data", "busybox", "sleep", "1000")
	s.mustDocker("cp", f, "ur:/tmp/")
	s.mustDocker("cp", f, "ur:/data/")
	s.mustDocker("cp", "-a", owned, "ur:/data/")
	if got := tarOwner("ur", "/tmp/f"); got != "0:0" {
		t.Errorf("running rootfs file owner seen from the container: %s", got)
	}
	if got := tarOwner("ur", "/etc/passwd"); got != "0:0" {
		t.Errorf("image file owner seen from the container: %s", got)
	}
	vol := filepath.Join(s.root, "eng")
	var volData string
	filepath.Walk(vol, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Name() == "uvol" {
			volData = filepath.Join(p, "_data")
		}
		return nil
	})
	if got := hostOwner(filepath.Join(volData, "f")); got != root {
		t.Errorf("volume file owner on the host: %s, want %s", got, root)
	}
	if got := hostOwner(filepath.Join(volData, "owned")); got != mapped {
		t.Errorf("-a owner on the host: %s, want %s", got, mapped)
	}
	if got := tarOwner("ur", "/data/owned"); got != "1234:2345" {
		t.Errorf("-a owner seen from the container: %s", got)
	}

	s.mustDocker("create", "--name", "us", "busybox", "stat", "-c", "%u:%g", "/f", "/owned")
	s.mustDocker("cp", f, "us:/")
	s.mustDocker("cp", "-a", owned, "us:/")
	if got := tarOwner("us", "/owned"); got != "1234:2345" {
		t.Errorf("created container's file owner: %s", got)
	}
	if out := s.mustDocker("start", "-a", "us"); strings.Fields(out)[0] != "0:0" || strings.Fields(out)[1] != "1234:2345" {
		t.Errorf("created container sees owners %q", out)
	}
	if got := tarOwner("us", "/owned"); got != "1234:2345" {
		t.Errorf("stopped container's file owner: %s", got)
	}
}
