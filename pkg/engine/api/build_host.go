package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/build"
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

// BuildSecretsHeader carries the secrets of RUN --mount=type=secret (ctl
// build --secret): base64 of a JSON object id → content (base64 in JSON),
// kept in memory. The classic /build API has no other way: BuildKit uses
// its session, which the classic builder has not.
const BuildSecretsHeader = "X-Berth-Build-Secrets"

func buildSecrets(r *http.Request) (map[string][]byte, error) {
	v := r.Header.Get(BuildSecretsHeader)
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, badRequest("build: %s: %v", BuildSecretsHeader, err)
	}
	var out map[string][]byte
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, badRequest("build: %s: %v", BuildSecretsHeader, err)
	}
	for id, data := range out {
		if id == "" {
			return nil, badRequest("build: a secret without an id")
		}
		if len(data) > build.MaxSecretSize {
			return nil, badRequest("build: secret %s is larger than %d bytes", id, build.MaxSecretSize)
		}
	}
	return out, nil
}
