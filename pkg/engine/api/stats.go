package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// statsInterval is dockerd's sampling period: a reading's precpu is the
// one before it, so that one reading is enough to compute a CPU %.
const statsInterval = time.Second

// systemCPUNs is the host's total cpu time (all cpus, all modes) in ns,
// docker's system_cpu_usage.
func systemCPUNs() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 1 && fs[0] == "cpu" {
			var ticks uint64
			for _, v := range fs[1:8] {
				n, _ := strconv.ParseUint(v, 10, 64)
				ticks += n
			}
			return ticks * (1e9 / clockTicks)
		}
	}
	return 0
}

func cpuStats(m *supervisorv1.MetricsResponse, system uint64) container.CPUStats {
	if m == nil {
		return container.CPUStats{}
	}
	online := m.GetOnlineCpus()
	if online == 0 {
		online = uint32(len(m.GetCpuPercpuNs()))
	}
	return container.CPUStats{
		CPUUsage: container.CPUUsage{TotalUsage: m.GetCpuUsageNs(), PercpuUsage: m.GetCpuPercpuNs(),
			UsageInKernelmode: m.GetCpuSystemNs(), UsageInUsermode: m.GetCpuUserNs()},
		SystemUsage: system, OnlineCPUs: online,
	}
}

// statsOf is docker's StatsResponse for a reading and the one before it.
func statsOf(c containers.Container, m, pre *supervisorv1.MetricsResponse, sys, preSys uint64, preRead time.Time) container.StatsResponse {
	limit := m.GetMemoryLimit()
	// No limit (cgroup v1 shows a huge number): the host's memory is the
	// limit, as dockerd reports it.
	if host := uint64(memTotal()); limit == 0 || (host > 0 && limit > host) {
		limit = host
	}
	read := time.Unix(0, m.GetReadAt())
	if m.GetReadAt() == 0 {
		read = time.Now()
	}
	return container.StatsResponse{
		ID: c.ID, Name: c.Name, OSType: "linux", Read: read, PreRead: preRead,
		CPUStats: cpuStats(m, sys), PreCPUStats: cpuStats(pre, preSys),
		MemoryStats: container.MemoryStats{Usage: m.GetMemoryUsage(), MaxUsage: m.GetMemoryMaxUsage(), Limit: limit,
			Stats: map[string]uint64{"cache": m.GetMemoryCache(), "total_cache": m.GetMemoryCache()}},
		PidsStats: container.PidsStats{Current: m.GetPidsCurrent(), Limit: m.GetPidsLimit()},
		BlkioStats: container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
			{Op: "read", Value: m.GetIoReadBytes()}, {Op: "write", Value: m.GetIoWriteBytes()},
		}},
		Networks: map[string]container.NetworkStats{},
	}
}

// containerStats answers one reading (stream=false; with precpu unless
// one-shot) or one per second until the client leaves or the container
// stops.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	stream := r.URL.Query().Get("stream") == "" || boolParam(r, "stream")
	oneShot := boolParam(r, "one-shot")
	c, err := s.d.Inspect(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	read := func(ctx context.Context) (*supervisorv1.MetricsResponse, uint64, error) {
		m, err := s.d.Metrics(ctx, id)
		return m, systemCPUNs(), err
	}
	if !c.State.Running {
		// docker answers a stopped container with an empty reading.
		writeJSON(w, http.StatusOK, container.StatsResponse{ID: c.ID, Name: c.Name, OSType: "linux", Networks: map[string]container.NetworkStats{}})
		return
	}
	m, sys, err := read(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	var pre *supervisorv1.MetricsResponse
	var preSys uint64
	var preRead time.Time
	if !oneShot {
		select {
		case <-time.After(statsInterval):
		case <-r.Context().Done():
			return
		}
		pre, preSys, preRead = m, sys, time.Unix(0, m.GetReadAt())
		if m, sys, err = read(r.Context()); err != nil {
			writeError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	fl, _ := w.(http.Flusher)
	for {
		if err := enc.Encode(statsOf(c, m, pre, sys, preSys, preRead)); err != nil || !stream {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		select {
		case <-time.After(statsInterval):
		case <-r.Context().Done():
			return
		}
		next, nsys, err := read(r.Context())
		if err != nil {
			return // stopped: the stream ends, as dockerd's does
		}
		pre, preSys, preRead = m, sys, time.Unix(0, m.GetReadAt())
		m, sys = next, nsys
	}
}
