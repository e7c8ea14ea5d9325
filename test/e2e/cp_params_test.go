package e2e

import (
	"archive/tar"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// PUT /containers/{id}/archive's parameters as dockerd reads them:
// noOverwriteDirNonDir refuses a file onto a directory and a directory
// onto a file (400, nothing changed) and without it they are replaced;
// copyUIDGID (docker cp -a) owns the files by the container's --user;
// without it, or in a container without a user, the tar's owners stay
// (dockerd's extractToDir).
func TestCpParams(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("run", "-d", "--name", "cpp", "--user", "1234:2345", "busybox", "sh", "-c", "mkdir /tmp/adir && echo f > /tmp/afile && sleep 1000")
	for range 100 {
		if _, _, code := s.docker("exec", "cpp", "test", "-f", "/tmp/afile"); code == 0 {
			break
		}
	}
	one := func(h tar.Header, body string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		h.Size = int64(len(body))
		tw.WriteHeader(&h)
		tw.Write([]byte(body))
		tw.Close()
		return b.Bytes()
	}
	fileOnDir := one(tar.Header{Name: "adir", Typeflag: tar.TypeReg, Mode: 0o644}, "now a file\n")
	dirOnFile := one(tar.Header{Name: "afile/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	for _, tc := range []struct {
		name string
		tar  []byte
		want string
	}{
		{"file onto a directory", fileOnDir, "cannot overwrite directory"},
		{"directory onto a file", dirOnFile, "cannot overwrite non-directory"},
	} {
		code, body := s.http("PUT", "/containers/cpp/archive?path=/tmp&noOverwriteDirNonDir=true", "application/x-tar", tc.tar)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s with noOverwriteDirNonDir: %d %s", tc.name, code, body)
		}
	}
	if out := s.mustDocker("exec", "cpp", "sh", "-c", "test -d /tmp/adir && cat /tmp/afile"); out != "f\n" {
		t.Errorf("a refused extraction changed the container: %q", out)
	}
	for _, b := range [][]byte{fileOnDir, dirOnFile} {
		if code, body := s.http("PUT", "/containers/cpp/archive?path=/tmp", "application/x-tar", b); code != http.StatusOK {
			t.Errorf("replace without noOverwriteDirNonDir: %d %s", code, body)
		}
	}
	if out := s.mustDocker("exec", "cpp", "sh", "-c", "cat /tmp/adir && test -d /tmp/afile && echo dir"); out != "now a file\ndir\n" {
		t.Errorf("after the replacing extraction: %q", out)
	}

	host := filepath.Join(s.root, "owned")
	os.WriteFile(host, []byte("o\n"), 0o644)
	os.Chown(host, 4321, 4321)
	s.mustDocker("cp", "-a", host, "cpp:/tmp/with-a")
	s.mustDocker("cp", host, "cpp:/tmp/without-a")
	if out := s.mustDocker("exec", "cpp", "stat", "-c", "%u:%g", "/tmp/with-a", "/tmp/without-a"); out != "1234:2345\n4321:4321\n" {
		t.Errorf("owners with -a (the container's user) and without (the tar's): %q", out)
	}
	// A container without --user: -a keeps the file's own owners.
	s.mustDocker("create", "--name", "nouser", "busybox", "true")
	s.mustDocker("cp", "-a", host, "nouser:/owned")
	tarOut := s.mustDocker("cp", "nouser:/owned", "-")
	tr := tar.NewReader(strings.NewReader(tarOut))
	h, err := tr.Next()
	if err != nil || h.Uid != 4321 || h.Gid != 4321 {
		t.Errorf("-a into a container without a user: %+v %v", h, err)
	}

	// -L out of the container: the link's target; without it, the link.
	s.mustDocker("exec", "cpp", "sh", "-c", "echo target > /tmp/tfile && ln -s /tmp/tfile /tmp/link")
	outDir := filepath.Join(s.root, "out")
	os.MkdirAll(outDir, 0o755)
	s.mustDocker("cp", "-L", "cpp:/tmp/link", filepath.Join(outDir, "followed"))
	s.mustDocker("cp", "cpp:/tmp/link", filepath.Join(outDir, "kept"))
	if b, err := os.ReadFile(filepath.Join(outDir, "followed")); string(b) != "target\n" {
		t.Errorf("cp -L out: %q %v", b, err)
	}
	if fi, err := os.Lstat(filepath.Join(outDir, "followed")); err != nil || fi.Mode()&os.ModeSymlink != 0 {
		t.Errorf("cp -L out gave a symlink: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(outDir, "kept")); err != nil || l != "/tmp/tfile" {
		t.Errorf("cp without -L out: %q %v", l, err)
	}
}

// docker cp into and out of a bind mount of a running and of a stopped
// container: the files are the host directory's.
func TestCpBindMounts(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	hb := filepath.Join(s.root, "hb")
	os.MkdirAll(hb, 0o755)
	os.WriteFile(filepath.Join(hb, "fromhost"), []byte("host\n"), 0o644)
	src := filepath.Join(s.root, "src")
	os.WriteFile(src, []byte("in\n"), 0o644)
	s.mustDocker("run", "-d", "--name", "bindrun", "-v", hb+":/hb", "busybox", "sleep", "1000")
	s.mustDocker("create", "--name", "bindstop", "-v", hb+":/hb2", "busybox", "true")
	for _, c := range []struct{ ctr, dst string }{{"bindrun", "/hb"}, {"bindstop", "/hb2"}} {
		s.mustDocker("cp", src, c.ctr+":"+c.dst+"/in-"+c.ctr)
		if b, err := os.ReadFile(filepath.Join(hb, "in-"+c.ctr)); string(b) != "in\n" {
			t.Errorf("%s: cp into the bind: %q %v", c.ctr, b, err)
		}
		out := filepath.Join(s.root, "out-"+c.ctr)
		s.mustDocker("cp", c.ctr+":"+c.dst+"/fromhost", out)
		if b, err := os.ReadFile(out); string(b) != "host\n" {
			t.Errorf("%s: cp out of the bind: %q %v", c.ctr, b, err)
		}
	}
}

// commit pauses a running container by default (pause and unpause
// events around it) and not with --pause=false.
func TestCommitPauses(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("run", "-d", "--name", "pc", "busybox", "sleep", "1000")
	since := strings.TrimSpace(s.mustDocker("system", "info", "-f", "{{.SystemTime}}"))
	s.mustDocker("commit", "pc", "paused:1")
	mid := strings.TrimSpace(s.mustDocker("system", "info", "-f", "{{.SystemTime}}"))
	s.mustDocker("commit", "--pause=false", "pc", "paused:2")
	until := strings.TrimSpace(s.mustDocker("system", "info", "-f", "{{.SystemTime}}"))
	events := func(from, to string) string {
		return s.mustDocker("events", "--since", from, "--until", to, "--filter", "container=pc", "--format", "{{.Action}}")
	}
	if got := events(since, mid); got != "pause\nunpause\ncommit\n" && got != "pause\ncommit\nunpause\n" {
		t.Errorf("default commit's events: %q", got)
	}
	if got := events(mid, until); got != "commit\n" {
		t.Errorf("--pause=false commit's events: %q", got)
	}
	if out := s.mustDocker("inspect", "-f", "{{.State.Status}}", "pc"); out != "running\n" {
		t.Errorf("after the commits: %q", out)
	}
}
