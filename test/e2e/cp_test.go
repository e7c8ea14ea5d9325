package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cpHostTree makes dir/f ("hello\n") and dir/d/g ("gee\n") on the host.
func cpHostTree(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "f"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "d", "g"), []byte("gee\n"), 0o640)
}

func readHostFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("read %s: %v", p, err)
	}
	return string(b)
}

// docker cp both ways on a running container: file into a dir, a dir
// into a new name, "/." into a volume (which gets it, not the rootfs
// under it), a directory out, "/." out, -a keeping owners, and a
// missing path with dockerd's error.
func TestCpDockerRunning(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	host := filepath.Join(s.root, "host")
	cpHostTree(t, host)
	s.mustDocker("run", "-d", "--name", "cr", "-v", "cpvol:/data", "busybox", "sleep", "1000")

	s.mustDocker("cp", filepath.Join(host, "f"), "cr:/tmp/")
	if out := s.mustDocker("exec", "cr", "cat", "/tmp/f"); out != "hello\n" {
		t.Errorf("file into dir: %q", out)
	}
	s.mustDocker("cp", filepath.Join(host, "d"), "cr:/tmp/newname")
	if out := s.mustDocker("exec", "cr", "cat", "/tmp/newname/g"); out != "gee\n" {
		t.Errorf("dir into a new name: %q", out)
	}
	s.mustDocker("cp", filepath.Join(host, "d")+"/.", "cr:/data/")
	if got := readHostFile(t, filepath.Join(s.root, "eng", "volumes", "cpvol", "_data", "g")); got != "gee\n" {
		t.Errorf("dir content into the volume: %q", got)
	}

	s.mustDocker("exec", "cr", "sh", "-c", "mkdir -p /srcd/sub && echo a > /srcd/a && echo b > /srcd/sub/b")
	out := filepath.Join(s.root, "out")
	os.MkdirAll(out, 0o755)
	s.mustDocker("cp", "cr:/srcd", out)
	if got := readHostFile(t, filepath.Join(out, "srcd", "sub", "b")); got != "b\n" {
		t.Errorf("dir out: %q", got)
	}
	out2 := filepath.Join(s.root, "out2")
	os.MkdirAll(out2, 0o755)
	s.mustDocker("cp", "cr:/srcd/.", out2)
	if got := readHostFile(t, filepath.Join(out2, "a")); got != "a\n" {
		t.Errorf("dir/. out: %q", got)
	}
	// The volume, read back through the container's view.
	s.mustDocker("cp", "cr:/data/g", filepath.Join(s.root, "g.out"))
	if got := readHostFile(t, filepath.Join(s.root, "g.out")); got != "gee\n" {
		t.Errorf("file out of the volume: %q", got)
	}

	owned := filepath.Join(s.root, "owned")
	os.WriteFile(owned, []byte("o\n"), 0o600)
	os.Chown(owned, 1234, 2345)
	s.mustDocker("cp", "-a", owned, "cr:/tmp/owned")
	if got := s.mustDocker("exec", "cr", "stat", "-c", "%u:%g:%a", "/tmp/owned"); got != "1234:2345:600\n" {
		t.Errorf("-a owner: %q", got)
	}

	_, errOut, code := s.docker("cp", "cr:/nope", out)
	if code == 0 || !strings.Contains(errOut, "Could not find the file /nope in container cr") {
		t.Errorf("cp of a missing path: exit %d %q", code, errOut)
	}
	_, errOut, code = s.docker("cp", filepath.Join(host, "f"), "cr:/nodir/x")
	if code == 0 || !strings.Contains(errOut, "Could not find the file /nodir in container cr") {
		t.Errorf("cp into a missing dir: exit %d %q", code, errOut)
	}
}

// docker cp into and out of containers that never ran and that stopped,
// their volumes included; a read-only rootfs and a :ro bind refuse.
func TestCpDockerStopped(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	host := filepath.Join(s.root, "host")
	cpHostTree(t, host)
	s.mustDocker("create", "--name", "cs", "-v", "stvol:/vol", "busybox", "cat", "/f", "/vol/f")
	s.mustDocker("cp", filepath.Join(host, "f"), "cs:/f")
	s.mustDocker("cp", filepath.Join(host, "f"), "cs:/vol/")
	if got := readHostFile(t, filepath.Join(s.root, "eng", "volumes", "stvol", "_data", "f")); got != "hello\n" {
		t.Errorf("into the volume of a created container: %q", got)
	}
	if out := s.mustDocker("start", "-a", "cs"); out != "hello\nhello\n" {
		t.Errorf("created container sees %q", out)
	}
	// Stopped now.
	s.mustDocker("cp", filepath.Join(host, "d"), "cs:/d2")
	out := filepath.Join(s.root, "out")
	s.mustDocker("cp", "cs:/d2", out)
	if got := readHostFile(t, filepath.Join(out, "g")); got != "gee\n" {
		t.Errorf("dir out of a stopped container into a new name: %q", got)
	}
	tarOut := s.mustDocker("cp", "cs:/vol/f", "-")
	if !strings.Contains(tarOut, "hello\n") {
		t.Errorf("tar of a stopped container's volume file: %q", tarOut)
	}

	ro := filepath.Join(s.root, "robind")
	os.MkdirAll(ro, 0o755)
	s.mustDocker("create", "--name", "ro", "--read-only", "-v", ro+":/robind:ro", "-v", "rwvol:/rw", "busybox", "true")
	_, errOut, code := s.docker("cp", filepath.Join(host, "f"), "ro:/tmp/")
	if code == 0 || !strings.Contains(errOut, "container rootfs is marked read-only") {
		t.Errorf("cp into a read-only rootfs: exit %d %q", code, errOut)
	}
	_, errOut, code = s.docker("cp", filepath.Join(host, "f"), "ro:/robind/")
	if code == 0 || !strings.Contains(errOut, "mounted volume is marked read-only") {
		t.Errorf("cp into a :ro bind: exit %d %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(ro, "f")); err == nil {
		t.Errorf("cp wrote into the :ro bind")
	}
	s.mustDocker("cp", filepath.Join(host, "f"), "ro:/rw/")
	if got := readHostFile(t, filepath.Join(s.root, "eng", "volumes", "rwvol", "_data", "f")); got != "hello\n" {
		t.Errorf("rw volume of a read-only container: %q", got)
	}
}

// Symlinks planted in the container (to /etc, to "/", to ../../..) never
// lead cp to the host's files, running or stopped, either way; a hostile
// tar put through the API stays in the target directory.
func TestCpHostileSymlinks(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	probe := fmt.Sprintf("berth-cp-probe-%d", rand.Int64())
	t.Cleanup(func() {
		os.Remove("/etc/" + probe)
		os.Remove("/" + probe)
		os.Remove("/etc/tar-" + probe)
	})
	src := filepath.Join(s.root, probe)
	os.WriteFile(src, []byte("probe\n"), 0o644)
	plant := "ln -s /etc /x && ln -s / /hostroot && ln -s ../../../../../.. /up && echo inside > /etc/marker"
	s.mustDocker("run", "-d", "--name", "run", "busybox", "sh", "-c", plant+" && sleep 1000")
	s.mustDocker("run", "--name", "stopped", "busybox", "sh", "-c", plant)
	for _, c := range []string{"run", "stopped"} {
		// Wait for the running one's links (the shell runs async).
		for range 100 {
			if _, _, code := s.docker("cp", c+":/etc/marker", "-"); code == 0 {
				break
			}
		}
		for _, dst := range []string{"/x/", "/hostroot/", "/up/", "/up/etc/", "/x/../../../etc/"} {
			if _, errOut, code := s.docker("cp", src, c+":"+dst); code != 0 {
				t.Errorf("%s: cp to %s: %s", c, dst, errOut)
			}
		}
		for _, p := range []string{"/etc/" + probe, "/" + probe} {
			if _, err := os.Stat(p); err == nil {
				t.Fatalf("%s: cp wrote %s on the host", c, p)
			}
		}
		if out := s.mustDocker("cp", c+":/x/marker", "-"); !strings.Contains(out, "inside\n") {
			t.Errorf("%s: read through /x: %q", c, out)
		}
		// Reading through the links gives the container's files.
		if _, errOut, code := s.docker("cp", c+":/hostroot/"+probe, "-"); code != 0 {
			t.Errorf("%s: the probe is not in the container's root: %s", c, errOut)
		}
		if _, _, code := s.docker("cp", c+":/up/"+filepath.Base(s.root), "-"); code == 0 {
			t.Errorf("%s: ../.. reached the host's temp dir", c)
		}
	}

	// A hostile tar: ".." is refused; an absolute symlink then an entry
	// through it lands below the target directory.
	for _, tc := range []struct {
		name    string
		entries []tar.Header
		status  int
	}{
		{"dotdot", []tar.Header{{Name: "../../../" + probe, Typeflag: tar.TypeReg, Mode: 0o644}}, http.StatusBadRequest},
		{"symlink", []tar.Header{{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/"}, {Name: "l/etc/tar-" + probe, Typeflag: tar.TypeReg, Mode: 0o644}}, http.StatusOK},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range tc.entries {
			tw.WriteHeader(&h)
		}
		tw.Close()
		code, body := s.http("PUT", "/containers/run/archive?path=/tmp", "application/x-tar", buf.Bytes())
		if code != tc.status {
			t.Errorf("%s tar: %d %s", tc.name, code, body)
		}
	}
	if _, err := os.Stat("/etc/tar-" + probe); err == nil {
		t.Fatalf("hostile tar wrote /etc/tar-%s on the host", probe)
	}
	if out := s.mustDocker("exec", "run", "ls", "/tmp/etc/"); !strings.Contains(out, "tar-"+probe) {
		t.Errorf("the symlinked entry is not below the target: %q", out)
	}
	if _, errOut, code := s.docker("exec", "run", "ls", "/etc/tar-"+probe); code == 0 {
		t.Errorf("the symlinked entry left the target directory: %s", errOut)
	}
}
