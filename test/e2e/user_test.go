package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
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
