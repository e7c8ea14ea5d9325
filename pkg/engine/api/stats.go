package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// statsInterval is dockerd's sampling period: a reading's precpu is the
// one before it, so that one reading is enough to compute a CPU %.
const statsInterval = time.Second

func cpuStats(m *supervisorv1.MetricsResponse) container.CPUStats {
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
		SystemUsage: m.GetSystemCpuNs(), OnlineCPUs: online,
	}
}

// statsOf is docker's StatsResponse for a reading and the one before it;
// hostMem is the host's memory, as the supervisor reports it.
func statsOf(c containers.Container, m, pre *supervisorv1.MetricsResponse, preRead time.Time, hostMem uint64) container.StatsResponse {
	limit := m.GetMemoryLimit()
	// No limit (cgroup v1 shows a huge number): the host's memory is the
	// limit, as dockerd reports it.
	if limit == 0 || (hostMem > 0 && limit > hostMem) {
		limit = hostMem
	}
	read := time.Unix(0, m.GetReadAt())
	if m.GetReadAt() == 0 {
		read = time.Now()
	}
	return container.StatsResponse{
		ID: c.ID, Name: c.Name, OSType: "linux", Read: read, PreRead: preRead,
		CPUStats: cpuStats(m), PreCPUStats: cpuStats(pre),
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
	if !c.State.Running {
		// docker answers a stopped container with an empty reading.
		writeJSON(w, http.StatusOK, container.StatsResponse{ID: c.ID, Name: c.Name, OSType: "linux", Networks: map[string]container.NetworkStats{}})
		return
	}
	host, err := s.d.Supervisor().Host(r.Context())
	if err != nil {
		writeError(w, fmt.Errorf("host facts: %w", err))
		return
	}
	hostMem := uint64(host.GetMemTotal())
	m, err := s.d.Metrics(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	var pre *supervisorv1.MetricsResponse
	var preRead time.Time
	if !oneShot {
		select {
		case <-time.After(statsInterval):
		case <-r.Context().Done():
			return
		}
		pre, preRead = m, time.Unix(0, m.GetReadAt())
		if m, err = s.d.Metrics(r.Context(), id); err != nil {
			writeError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	fl, _ := w.(http.Flusher)
	for {
		if err := enc.Encode(statsOf(c, m, pre, preRead, hostMem)); err != nil || !stream {
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
		next, err := s.d.Metrics(r.Context(), id)
		if err != nil {
			return // stopped: the stream ends, as dockerd's does
		}
		pre, preRead = m, time.Unix(0, m.GetReadAt())
		m = next
	}
}
