package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/testprereq"
)

// subRange is dockremap's first subordinate uid range, as engined
// --userns-remap default leaves it in /etc/subuid.
func subRange(t *testing.T) (start, size string) {
	f, err := os.Open("/etc/subuid")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p := strings.Split(sc.Text(), ":"); len(p) == 3 && p[0] == "dockremap" {
			return p[1], p[2]
		}
	}
	t.Fatal("no dockremap range in /etc/subuid")
	return "", ""
}

// TestDockerUsernsRemap runs engined --userns-remap default (the dockremap
// user and its ranges are made when missing, as dockerd does) and checks,
// through the docker CLI and ctl, what the remapped containers see and
// what lands on the host.
func TestDockerUsernsRemap(t *testing.T) {
	_, err := exec.LookPath("useradd")
	testprereq.Require(t, err == nil, "useradd and usermod (passwd)")
	s := newStackArgs(t, "--userns-remap", "default")
	s.loadBusybox()
	start, size := subRange(t)

	// Root in the container is the range's first id on the host.
	out := s.mustDocker("run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map")
	f := strings.Fields(out)
	if len(f) != 7 || f[0] != "0" || f[1] != "0" || f[2] != start || f[3] != size {
		t.Fatalf("uid/maps %q, want root mapped to %s (%s ids)", out, start, size)
	}

	// The image's files are root's, and root can write them and its etc
	// files; what it writes is owned by 0 on disk (the rootfs is mapped,
	// not chowned), so layers stay shared with every other container.
	out = s.mustDocker("run", "--name", "wr", "busybox", "sh", "-c",
		"stat -c %u:%g / /etc/passwd; echo x > /remap-marker && echo 10.1.2.3 h >> /etc/hosts && echo ok; ip -o -4 addr show eth0 | wc -l")
	if f := strings.Fields(out); len(f) != 4 || f[0] != "0:0" || f[1] != "0:0" || f[2] != "ok" || f[3] != "1" {
		t.Fatalf("rootfs as root: %q", out)
	}
	var found []string
	filepath.Walk(filepath.Join(s.root, "sup"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Name() == "remap-marker" {
			found = append(found, p)
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("marker found at %v", found)
	}
	var st unix.Stat_t
	if err := unix.Stat(found[0], &st); err != nil || st.Uid != 0 || st.Gid != 0 {
		t.Fatalf("marker on disk owned by %d:%d (%v), want 0:0", st.Uid, st.Gid, err)
	}
	s.mustDocker("rm", "wr")

	// A new volume gets the image's content with owners as the container
	// sees them: on the host, shifted into the range.
	out = s.mustDocker("run", "--rm", "-v", "rv:/etc", "busybox", "sh", "-c", "stat -c %u /etc/passwd; touch /etc/new && echo ok")
	if f := strings.Fields(out); len(f) != 2 || f[0] != "0" || f[1] != "ok" {
		t.Fatalf("volume as root: %q", out)
	}
	mp := strings.TrimSpace(s.mustDocker("volume", "inspect", "-f", "{{.Mountpoint}}", "rv"))
	for _, p := range []string{mp, filepath.Join(mp, "passwd"), filepath.Join(mp, "new")} {
		if err := unix.Stat(p, &st); err != nil || itoa(st.Uid) != start {
			t.Errorf("%s owned by %d (%v), want %s", p, st.Uid, err, start)
		}
	}

	// --userns host opts out; what remapping cannot do is refused by name.
	out = s.mustDocker("run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map")
	if f := strings.Fields(out); len(f) != 3 || f[1] != "0" || f[2] != "4294967295" {
		t.Fatalf("--userns host: %q", out)
	}
	for _, c := range []struct{ args []string }{
		{[]string{"--privileged"}}, {[]string{"--network", "host"}}, {[]string{"--pid", "host"}},
	} {
		_, errOut, code := s.docker(append(append([]string{"run", "--rm"}, c.args...), "busybox", "true")...)
		if code == 0 || !strings.Contains(errOut, "user namespaces") {
			t.Errorf("%v: exit %d, %q", c.args, code, errOut)
		}
	}
	s.mustDocker("run", "--rm", "--userns", "host", "--privileged", "busybox", "true")
	if _, errOut, code := s.run("run", "--rm", "--userns", "nope", "busybox", "true"); code == 0 || !strings.Contains(errOut, "userns") {
		t.Errorf("--userns nope: exit %d, %q", code, errOut)
	}

	// ctl sees the same, and /info says so.
	if out := s.mustRun("run", "--rm", "busybox", "cat", "/proc/self/uid_map"); strings.Fields(out)[1] != start {
		t.Fatalf("ctl: %q", out)
	}
	if out := s.mustDocker("info", "-f", "{{.SecurityOptions}}"); !strings.Contains(out, "name=userns") {
		t.Fatalf("info SecurityOptions %q", out)
	}
}

func itoa(u uint32) string { return strconv.FormatUint(uint64(u), 10) }

// TestEngineUsernsRemapBadFlag: a user without ranges, or a data root the
// remapped root cannot reach, stops engined at start with the reason.
func TestEngineUsernsRemapBadFlag(t *testing.T) {
	requireStack(t)
	root := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--userns-remap", "no-such-user-berth"}, `no user "no-such-user-berth"`},
		{[]string{"--userns-remap", "default", "--data-root", filepath.Join(root, "eng")}, "cannot reach"},
	} {
		args := append([]string{"-H", "unix://" + filepath.Join(root, "e.sock"), "--supervisor", "unix://" + filepath.Join(root, "nosup.sock"),
			"--exec-root", filepath.Join(root, "run")}, c.args...)
		out, err := exec.Command(filepath.Join(binDir(t), "engined"), args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%v: %v %q, want %q", c.args, err, out, c.want)
		}
	}
}
