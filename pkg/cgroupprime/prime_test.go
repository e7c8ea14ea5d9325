package cgroupprime

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// File names a cgroup.procs file that lists our own pid, so Start's write
// moves nothing.
func TestFileListsUs(t *testing.T) {
	if _, err := os.Stat("/proc/self/cgroup"); err != nil {
		t.Skip("no /proc/self/cgroup")
	}
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

// Without hierarchies there is nothing to write; on a v2-only host (the
// root has cgroup.controllers) it is our unified cgroup's file.
func TestFileRoots(t *testing.T) {
	old := Root
	defer func() { Root = old }()
	Root = t.TempDir()
	if p := File(); p != "" {
		t.Fatalf("File() with no hierarchies = %q, want \"\"", p)
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	var unified string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "0::") {
			unified = strings.TrimPrefix(l, "0::")
		}
	}
	if unified == "" {
		t.Skip("no unified hierarchy line in /proc/self/cgroup")
	}
	if err := os.WriteFile(filepath.Join(Root, "cgroup.controllers"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, want := File(), filepath.Join(Root, unified, "cgroup.procs"); p != want {
		t.Fatalf("File() on a v2 root = %q, want %q", p, want)
	}
}
