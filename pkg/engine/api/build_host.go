package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/container"
)

// buildRunHost reads the POST /build parameters that dockerd applies to
// every RUN container (docker build --memory, --cpu-*, --cpuset-*,
// --shm-size, --ulimit, --cgroup-parent, --add-host, --security-opt) into
// a host config the builder copies for each RUN step; the container code
// checks and applies them as for `docker run`.
func buildRunHost(r *http.Request) (*container.HostConfig, error) {
	q := r.URL.Query()
	hc := &container.HostConfig{}
	ints := []struct {
		name string
		dst  *int64
	}{
		{"memory", &hc.Memory}, {"memswap", &hc.MemorySwap}, {"cpushares", &hc.CPUShares},
		{"cpuperiod", &hc.CPUPeriod}, {"cpuquota", &hc.CPUQuota}, {"shmsize", &hc.ShmSize},
	}
	for _, p := range ints {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badRequest("build: %s=%s: not a number", p.name, v)
		}
		*p.dst = n
	}
	if hc.ShmSize < 0 {
		return nil, badRequest("build: shmsize=%d: must be positive", hc.ShmSize)
	}
	hc.CpusetCpus, hc.CpusetMems, hc.CgroupParent = q.Get("cpusetcpus"), q.Get("cpusetmems"), q.Get("cgroupparent")
	if v := q.Get("ulimits"); v != "" && v != "null" {
		if err := json.Unmarshal([]byte(v), &hc.Ulimits); err != nil {
			return nil, badRequest("build: ulimits: %v", err)
		}
	}
	for _, h := range q["extrahosts"] {
		if h != "" {
			hc.ExtraHosts = append(hc.ExtraHosts, h)
		}
	}
	for _, o := range q["securityopt"] {
		if o != "" && o != "[]" && o != "null" {
			hc.SecurityOpt = append(hc.SecurityOpt, o)
		}
	}
	return hc, nil
}
