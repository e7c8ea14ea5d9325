package e2e

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine"
	"github.com/berthd/berth/pkg/testprereq"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

// -u and --group-add through the docker CLI: names, groups and
// supplementary groups come from the container's own /etc/passwd and
// /etc/group (the test image's: root in wheel, nobody in users), exec -u
// too, and an unknown user fails with dockerd's message, leaving no
// container and no snapshot. (The kernel sorts the supplementary groups:
// id lists them in that order.)
func TestDockerUser(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	d := newDockerCLI(t, s)

	for _, tc := range []struct {
		opts []string
		cmd  string
		want string
	}{
		{nil, "id", "uid=0(root) gid=0(root) groups=0(root),10(wheel)"},
		{[]string{"-u", "nobody"}, "id", "uid=65534(nobody) gid=65534(nogroup) groups=100(users),65534(nogroup)"},
		{[]string{"-u", "nobody:nogroup"}, "id", "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"},
		{[]string{"-u", "nobody:wheel"}, "id", "uid=65534(nobody) gid=10(wheel) groups=10(wheel)"},
		{[]string{"-u", "65534"}, "id", "uid=65534(nobody) gid=65534(nogroup) groups=100(users),65534(nogroup)"},
		{[]string{"-u", "1234:5678"}, "id", "uid=1234 gid=5678 groups=5678"},
		{[]string{"-u", "nobody", "--group-add", "wheel", "--group-add", "4000"}, "id -G", "65534 10 100 4000"},
	} {
		args := append(append([]string{"run", "--rm"}, tc.opts...), append([]string{"busybox"}, strings.Fields(tc.cmd)...)...)
		if out := strings.TrimSpace(d.must(args...)); out != tc.want {
			t.Errorf("docker %v: %q, want %q", args, out, tc.want)
		}
	}

	// exec -u, in a container that added a user after it started.
	d.must("run", "-d", "--name", "c1", "--group-add", "users", "busybox", "sleep", "1000")
	d.must("exec", "c1", "sh", "-c", "echo late:x:2000:2001::/:/bin/sh >>/etc/passwd")
	for user, want := range map[string]string{
		"nobody": "uid=65534(nobody) gid=65534(nogroup) groups=100(users),65534(nogroup)",
		"late":   "uid=2000(late) gid=2001 groups=100(users),2001",
		"":       "uid=0(root) gid=0(root) groups=0(root),10(wheel),100(users)",
	} {
		args := []string{"exec", "c1", "id"}
		if user != "" {
			args = []string{"exec", "-u", user, "c1", "id"}
		}
		if out := strings.TrimSpace(d.must(args...)); out != want {
			t.Errorf("docker %v: %q, want %q", args, out, want)
		}
	}
	if _, errOut, err := d.run("exec", "-u", "nosuchuser", "c1", "id"); err == nil || !strings.Contains(errOut, "unable to find user nosuchuser: no matching entries in passwd file") {
		t.Errorf("exec -u nosuchuser: %v, stderr %q", err, errOut)
	}
	d.must("rm", "-f", "c1")

	sup, err := client.New(s.supSock, client.WithNamespace(engine.Namespace), client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	snapshots := func() int {
		resp, err := sup.SnapshotService().List(t.Context(), &supervisorv1.ListSnapshotsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.GetInfo())
	}
	before := snapshots()
	for _, args := range [][]string{
		{"run", "--rm", "-u", "nosuchuser", "busybox", "id"},
		{"create", "--name", "bad", "-u", "nosuchuser", "busybox", "id"},
	} {
		out, errOut, err := d.run(args...)
		if err == nil || !strings.Contains(errOut, "Error response from daemon: unable to find user nosuchuser: no matching entries in passwd file") {
			t.Errorf("docker %v: %v\nstdout %q\nstderr %q", args, err, out, errOut)
		}
	}
	if _, errOut, err := d.run("run", "--rm", "-u", "nobody", "--group-add", "nosuchgroup", "busybox", "id"); err == nil || !strings.Contains(errOut, "Unable to find group nosuchgroup: no matching entries in group file") {
		t.Errorf("--group-add nosuchgroup: %v, stderr %q", err, errOut)
	}
	if ps := strings.TrimSpace(d.must("ps", "-aq")); ps != "" {
		t.Errorf("refused creates left containers: %q", ps)
	}
	if n := snapshots(); n != before {
		t.Errorf("refused creates left snapshots: %d, were %d", n, before)
	}
	if m := s.mountsUnder(); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// An image whose /etc/passwd is a symlink out of its rootfs gets its own
// file of that name, never the host's: with the host's /etc/shadow,
// "nobody" would resolve to uid 0; with the host file below, to uid 0 too.
func TestDockerUserHostileImage(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	host := filepath.Join(s.root, "host-passwd")
	if err := os.WriteFile(host, []byte("nobody:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base, err := image.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	load := func(ref string, files map[string]string, link string) {
		t.Helper()
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for name, body := range files {
			for dir := filepath.Dir(name); dir != "."; dir = filepath.Dir(dir) {
				tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755})
			}
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
			tw.Write([]byte(body))
		}
		tw.WriteHeader(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeSymlink, Linkname: link})
		tw.Close()
		img, err := image.New([][]byte{base.Layers[0], buf.Bytes()}, []string{"id"})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(s.root, "img.tar")
		var ar bytes.Buffer
		if err := img.WriteDockerArchiveTo(&ar, ref); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, ar.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		d.must("load", "-i", path)
	}
	_, err = os.Stat("/etc/shadow")
	testprereq.Require(t, err == nil, "host's /etc/shadow")
	load("shadow:latest", nil, "/../../../../etc/shadow")
	if out, errOut, err := d.run("run", "--rm", "-u", "nobody", "shadow"); err == nil || !strings.Contains(errOut, "unable to find user nobody: no matching entries in passwd file") {
		t.Errorf("passwd linked to /etc/shadow: %v\nstdout %q\nstderr %q", err, out, errOut)
	}
	inside := strings.TrimPrefix(host, "/")
	load("hostpath:latest", map[string]string{inside: "nobody:x:4242:4343::/:/bin/sh\n"}, host)
	if out := strings.TrimSpace(d.must("run", "--rm", "-u", "nobody", "hostpath")); out != "uid=4242(nobody) gid=4343 groups=100(users),4343" {
		t.Errorf("passwd linked to a host path: %q, want the image's file (uid 4242)", out)
	}
}
