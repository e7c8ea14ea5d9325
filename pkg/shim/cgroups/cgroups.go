// Package cgroups reads a container's cgroup for its shim, the only reader
// of it: the processes and the resource counters, on cgroup v1 (hybrid
// hosts included, whose resource controllers are v1) and v2.
package cgroups

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// Cgroup is a process's cgroup: per-controller directories on cgroup
// v1 (hybrid hosts included, whose resource controllers are v1), or the
// unified directory on v2.
type Cgroup struct {
	v1      map[string]string // controller -> directory
	unified string
}

// OfPid reads /proc/PID/cgroup. The paths there are relative to our
// cgroup namespace, which is the host's for the shim.
func OfPid(pid int) (*Cgroup, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, fmt.Errorf("cgroup of pid %d: %v: %w", pid, err, errdefs.ErrNotFound)
	}
	defer f.Close()
	cg := &Cgroup{v1: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			dir := filepath.Join(cgroupRoot, parts[2])
			if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err != nil {
				dir = filepath.Join(cgroupRoot, "unified", parts[2]) // hybrid
			}
			cg.unified = dir
			continue
		}
		if strings.Contains(parts[1], "=") {
			continue // named hierarchies (name=systemd) hold no resources
		}
		dir := filepath.Join(cgroupRoot, parts[1], parts[2])
		for _, c := range strings.Split(parts[1], ",") {
			cg.v1[c] = dir
		}
	}
	if len(cg.v1) == 0 && cg.unified == "" {
		return nil, fmt.Errorf("pid %d has no cgroup: %w", pid, errdefs.ErrNotFound)
	}
	return cg, nil
}

// Pids lists the processes of the cgroup and of the cgroups below it.
func (cg *Cgroup) Pids() ([]uint32, error) {
	dir := cg.unified
	for _, c := range []string{"pids", "memory", "cpu", "freezer"} {
		if d, ok := cg.v1[c]; ok {
			dir = d
			break
		}
	}
	if dir == "" {
		return nil, fmt.Errorf("no cgroup directory: %w", errdefs.ErrNotFound)
	}
	seen := map[uint32]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // a child cgroup removed meanwhile
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, l := range strings.Fields(string(b)) {
			if n, err := strconv.ParseUint(l, 10, 32); err == nil {
				seen[uint32(n)] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pids of %s: %w", dir, err)
	}
	out := make([]uint32, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func readUint(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// readKV reads "key value" lines (memory.stat, cpu.stat, cpuacct.stat).
func readKV(path string) map[string]uint64 {
	out := map[string]uint64{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 {
			if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				out[f[0]] = n
			}
		}
	}
	return out
}

// userHZ is the unit of cpuacct.stat (USER_HZ is 100 on every Linux ABI).
const userHZ = 100

// noLimit is what cgroup v1 reports as the memory limit when there is none
// (page-aligned LONG_MAX); reported as 0, like v2's "max".
const noLimit = 0x7FFFFFFFFFFFF000

// Stats reads the resource counters.
func (cg *Cgroup) Stats() *shimv1.StatsResponse {
	m := &shimv1.StatsResponse{ReadAt: time.Now().UnixNano(), OnlineCpus: uint32(runtime.NumCPU())}
	if len(cg.v1) > 0 {
		if d, ok := cg.v1["cpuacct"]; ok {
			m.CpuUsageNs = readUint(filepath.Join(d, "cpuacct.usage"))
			st := readKV(filepath.Join(d, "cpuacct.stat"))
			m.CpuUserNs = st["user"] * (1e9 / userHZ)
			m.CpuSystemNs = st["system"] * (1e9 / userHZ)
			if b, err := os.ReadFile(filepath.Join(d, "cpuacct.usage_percpu")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					n, _ := strconv.ParseUint(f, 10, 64)
					m.CpuPercpuNs = append(m.CpuPercpuNs, n)
				}
			}
		}
		if d, ok := cg.v1["memory"]; ok {
			m.MemoryUsage = readUint(filepath.Join(d, "memory.usage_in_bytes"))
			m.MemoryLimit = readUint(filepath.Join(d, "memory.limit_in_bytes"))
			if m.MemoryLimit >= noLimit {
				m.MemoryLimit = 0
			}
			m.MemoryMaxUsage = readUint(filepath.Join(d, "memory.max_usage_in_bytes"))
			m.MemoryCache = readKV(filepath.Join(d, "memory.stat"))["cache"]
		}
		if d, ok := cg.v1["pids"]; ok {
			m.PidsCurrent = readUint(filepath.Join(d, "pids.current"))
			m.PidsLimit = readUint(filepath.Join(d, "pids.max"))
		}
		if d, ok := cg.v1["blkio"]; ok {
			m.IoReadBytes, m.IoWriteBytes = blkioV1(filepath.Join(d, "blkio.throttle.io_service_bytes"))
		}
		return m
	}
	d := cg.unified
	st := readKV(filepath.Join(d, "cpu.stat"))
	m.CpuUsageNs, m.CpuUserNs, m.CpuSystemNs = st["usage_usec"]*1000, st["user_usec"]*1000, st["system_usec"]*1000
	m.MemoryUsage = readUint(filepath.Join(d, "memory.current"))
	m.MemoryLimit = readUint(filepath.Join(d, "memory.max"))
	m.MemoryMaxUsage = readUint(filepath.Join(d, "memory.peak"))
	m.MemoryCache = readKV(filepath.Join(d, "memory.stat"))["file"]
	m.PidsCurrent = readUint(filepath.Join(d, "pids.current"))
	m.PidsLimit = readUint(filepath.Join(d, "pids.max"))
	m.IoReadBytes, m.IoWriteBytes = ioStatV2(filepath.Join(d, "io.stat"))
	return m
}

// blkioV1 sums "MAJ:MIN Read|Write N" lines.
func blkioV1(path string) (read, write uint64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseUint(f[2], 10, 64)
		switch f[1] {
		case "Read":
			read += n
		case "Write":
			write += n
		}
	}
	return read, write
}

// ioStatV2 sums rbytes= and wbytes= of every device.
func ioStatV2(path string) (read, write uint64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, "rbytes="); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			read += n
		} else if v, ok := strings.CutPrefix(f, "wbytes="); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			write += n
		}
	}
	return read, write
}
