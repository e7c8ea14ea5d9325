package cgroupprime

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/testprereq"
)

// File names a cgroup.procs file that lists our own pid, so Start's write
// moves nothing.
func TestFileListsUs(t *testing.T) {
	_, err := os.Stat("/proc/self/cgroup")
	testprereq.Require(t, err == nil, "/proc/self/cgroup (%v)", err)
	p := File()
	if p == "" {
		t.Fatalf("no cgroup.procs of ours found below %s", Root)
	}
	if !strings.HasPrefix(p, Root+"/") || filepath.Base(p) != "cgroup.procs" || strings.Contains(p, "name=") {
		t.Fatalf("File() = %q, want a controller hierarchy's cgroup.procs below %s", p, Root)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	for _, l := range strings.Fields(string(b)) {
		if l == me {
			return
		}
	}
	t.Fatalf("%s does not list our pid %s", p, me)
}

// The choice of file on made-up hierarchies: a v1 host's first controller
// hierarchy by name that has the file (never a named one such as
// name=systemd), a v2-only host's unified cgroup, nothing without
// hierarchies.
func TestFileFor(t *testing.T) {
	old := Root
	defer func() { Root = old }()
	Root = t.TempDir()
	own := map[string]string{"name=systemd": "/a", "pids": "/sess", "memory": "/sess/m", "": "/u"}
	if p := fileFor(own); p != "" {
		t.Fatalf("no hierarchies: %q, want \"\"", p)
	}
	mk := func(rel string) string {
		p := filepath.Join(Root, rel, "cgroup.procs")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mk("name=systemd/a")
	if p := fileFor(own); p != "" {
		t.Fatalf("only a named hierarchy: %q, want \"\"", p)
	}
	pids := mk("pids/sess")
	if p := fileFor(own); p != pids {
		t.Fatalf("v1: %q, want %q", p, pids)
	}
	mem := mk("memory/sess/m")
	if p := fileFor(own); p != mem {
		t.Fatalf("v1, memory sorts first: %q, want %q", p, mem)
	}
	if err := os.WriteFile(filepath.Join(Root, "cgroup.controllers"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, want := fileFor(own), filepath.Join(Root, "u", "cgroup.procs"); p != want {
		t.Fatalf("v2: %q, want %q", p, want)
	}
	delete(own, "")
	if p := fileFor(own); p != "" {
		t.Fatalf("v2 without a unified line: %q, want \"\"", p)
	}
}
