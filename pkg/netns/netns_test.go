package netns

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/testprereq"
)

// readIn reads a /proc/sys file from inside the namespace held by f, on a
// thread locked there and then let go (it never returns to the pool).
func readIn(t *testing.T, f *os.File, path string) string {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			c <- result{err: err}
			return
		}
		b, err := os.ReadFile(path)
		c <- result{strings.TrimSpace(string(b)), err}
	}()
	r := <-c
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.s
}

// The sysctls given are written in the new namespace, not in the caller's;
// one the kernel refuses fails the making and leaves no path behind.
func TestSysctlsInTheNewNamespace(t *testing.T) {
	testprereq.Root(t)
	const key, file = "net.ipv4.ip_unprivileged_port_start", "/proc/sys/net/ipv4/ip_unprivileged_port_start"
	_, err := os.Stat(file)
	testprereq.Require(t, err == nil, "the sysctl %s", key)
	hostBefore, _ := os.ReadFile(file)
	want := map[string]string{key: "77"}

	f, err := New(want)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := readIn(t, f, file); got != "77" {
		t.Errorf("New: %s = %q in the namespace", key, got)
	}

	path := filepath.Join(t.TempDir(), "ns")
	if err := Create(path, want); err != nil {
		t.Fatal(err)
	}
	defer Remove(path)
	g, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got := readIn(t, g, file); got != "77" {
		t.Errorf("Create: %s = %q in the namespace", key, got)
	}
	// A namespace already held there is kept, and gets them too.
	if err := Create(path, map[string]string{key: "78"}); err != nil {
		t.Fatal(err)
	}
	if got := readIn(t, g, file); got != "78" {
		t.Errorf("Create over a held namespace: %s = %q in it", key, got)
	}
	if hostAfter, _ := os.ReadFile(file); string(hostAfter) != string(hostBefore) {
		t.Errorf("the caller's %s changed: %q -> %q", key, hostBefore, hostAfter)
	}

	bad := filepath.Join(t.TempDir(), "bad")
	if err := Create(bad, map[string]string{"net.ipv4.no_such_sysctl": "1"}); err == nil || !strings.Contains(err.Error(), "net.ipv4.no_such_sysctl") {
		t.Errorf("a sysctl the kernel lacks: %v", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a failed Create left %s: %v", bad, err)
	}
}
