// Package cgroupprime starts early the kernel's wait that placing a process
// in a cgroup pays after a quiet spell, so that the runtime's placing of a
// container's init finds it over. Both the shim (when asked to create) and
// the runtime (at create, run and exec) call Start; it has no dependencies
// so that the shim, built for memory, can link it.
//
// Every write to a cgroup.procs file takes the kernel's
// cgroup_threadgroup_rwsem for writing, whose rcu_sync waits a whole RCU
// grace period unless another writer came within about one grace period
// before: 5 to 15 ms on this 2-core cgroup v1 host, the largest single step
// of a container's create (`ctl run --trace`). The write holds cgroup_mutex
// meanwhile, so a cgroup mkdir waits for it too. Writing our own pid into
// the cgroup we are already in moves nothing but starts that grace period
// now. Docs: docs/performance.md.
package cgroupprime

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Root is where cgroup hierarchies are mounted. A variable for tests.
var Root = "/sys/fs/cgroup"

// Start writes our pid into our own cgroup's cgroup.procs in one hierarchy,
// in the background. Best effort: where we may not write there (rootless, a
// read-only /sys/fs/cgroup) the wait is paid later, as without it.
func Start() {
	// Finding the file reads /proc/self/cgroup and stats the hierarchies:
	// that too is off the caller's path.
	go func() {
		p := File()
		if p == "" {
			return
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		_, _ = f.WriteString(strconv.Itoa(os.Getpid()))
		f.Close()
	}()
}

// File returns the cgroup.procs file of our own cgroup in one hierarchy:
// the unified one on a v2-only host, else the first v1 controller
// hierarchy (by name) mounted under Root; a named hierarchy such as
// name=systemd is left alone, it belongs to another manager. "" when there
// is none.
func File() string {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	own := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) == 3 {
			own[parts[1]] = parts[2]
		}
	}
	return fileFor(own)
}

// fileFor is File for the hierarchies of /proc/self/cgroup (name, "" for
// the unified one -> our path in it).
func fileFor(own map[string]string) string {
	if _, err := os.Stat(filepath.Join(Root, "cgroup.controllers")); err == nil {
		if p, ok := own[""]; ok {
			return filepath.Join(Root, p, "cgroup.procs")
		}
		return ""
	}
	hiers := make([]string, 0, len(own))
	for h := range own {
		if h != "" && !strings.HasPrefix(h, "name=") {
			hiers = append(hiers, h)
		}
	}
	sort.Strings(hiers)
	for _, h := range hiers {
		p := filepath.Join(Root, h, own[h], "cgroup.procs")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
