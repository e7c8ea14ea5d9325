package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The recursive mount options: "ro" on a bind of a tree leaves the mounts
// inside it writable, "rro" makes them read-only too (mount_setattr with
// AT_RECURSIVE), "rnoexec" likewise; the runtime's features list them.
func TestRuntimeRecursiveReadOnlyMount(t *testing.T) {
	bin := rtBin(t)
	if !inPrivateMountNS(t) {
		return
	}
	out, _, code := (&rtEnv{bin: bin}).cmd(t, nil, "features")
	if code != 0 || !strings.Contains(out, `"rro"`) || !strings.Contains(out, `"rnoexec"`) {
		t.Fatalf("features (exit %d) do not list rro and rnoexec: %s", code, out)
	}
	vol := t.TempDir()
	sub := filepath.Join(vol, "tmpfs")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(sub, syscall.MNT_DETACH) })
	for _, c := range []struct {
		opts []string
		want string
	}{
		{[]string{"rbind", "ro"}, "top:ro sub:rw"},
		{[]string{"rbind", "ro", "rro"}, "top:ro sub:ro"},
		{[]string{"rbind", "rro"}, "top:ro sub:ro"},
		{[]string{"rbind", "rro", "rrw"}, "top:rw sub:rw"},
	} {
		script := `t=rw; touch /mnt/f 2>/dev/null || t=ro; s=rw; touch /mnt/tmpfs/f 2>/dev/null || s=ro; echo top:$t sub:$s`
		e := newRtEnv(t, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: vol, Options: c.opts})
		}, "sh", "-c", script)
		out, errOut, code := e.cmd(t, nil, "run", "rro")
		if code != 0 || strings.TrimSpace(out) != c.want {
			t.Errorf("options %v: exit %d: %q%s, want %q", c.opts, code, out, errOut, c.want)
		}
		os.Remove(filepath.Join(vol, "f"))
		os.Remove(filepath.Join(sub, "f"))
	}
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: vol, Options: []string{"rbind", "rnoexec"}})
	}, "sh", "-c", `cp /bin/busybox /mnt/tmpfs/bb && /mnt/tmpfs/bb true && echo exec || echo noexec`)
	if out, errOut, code := e.cmd(t, nil, "run", "rnoexec"); code != 0 || strings.TrimSpace(out) != "noexec" {
		t.Errorf("rnoexec: exit %d: %q%s", code, out, errOut)
	}
}
