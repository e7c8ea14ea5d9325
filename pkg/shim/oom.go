package shim

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// oomCounterFile returns the file that counts OOM kills in the memory
// cgroup of pid: memory.oom_control (v1) or memory.events (v2). Empty
// when it cannot be found.
func oomCounterFile(pid int) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	var v2 string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" && parts[0] == "0" {
			v2 = filepath.Join("/sys/fs/cgroup", parts[2], "memory.events")
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				return filepath.Join("/sys/fs/cgroup", parts[1], parts[2], "memory.oom_control")
			}
		}
	}
	if v2 != "" {
		if _, err := os.Stat(v2); err == nil {
			return v2
		}
	}
	return ""
}

// oomKills reads the "oom_kill N" counter from a file of oomCounterFile.
func oomKills(path string) uint64 {
	if path == "" {
		return 0
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
