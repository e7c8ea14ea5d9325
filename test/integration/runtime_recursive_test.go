package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Recursive mount options: "rro" makes a bind read-only with its
// submounts, a later "rrw" undoes it; plain "ro" leaves the submount
// writable.
func TestRuntimeRecursiveMountOptions(t *testing.T) {
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	os.MkdirAll(sub, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", sub).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", sub).Run() })
	probe := "touch /r/sub/x 2>/dev/null && echo sub-rw || echo sub-ro; touch /r/top 2>/dev/null && echo top-rw || echo top-ro"
	for _, c := range []struct {
		opts []string
		want string
	}{
		{[]string{"rbind", "ro", "rro"}, "sub-ro top-ro"},
		{[]string{"rbind", "ro"}, "sub-rw top-ro"},
		{[]string{"rbind", "rro", "rrw"}, "sub-rw top-rw"},
	} {
		e := newRtEnv(t, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/r", Type: "bind", Source: src, Options: c.opts})
		}, "sh", "-c", probe)
		out, errOut, code := e.cmd(t, nil, "run", "rec")
		if got := strings.Join(strings.Fields(out), " "); code != 0 || got != c.want {
			t.Errorf("%v: exit %d %q %s, want %q", c.opts, code, out, errOut, c.want)
		}
		os.Remove(filepath.Join(sub, "x"))
		os.Remove(filepath.Join(src, "top"))
	}
}
