package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers/containerstest"
)

// top, stats and info show what the supervisor reports (the fake's
// processes, readings and host), not what engined could read of this
// host's /proc or cgroup mounts.
func TestTopStatsInfoFromSupervisor(t *testing.T) {
	e := newEnv(t)
	e.sup.InitPid = 777777 // no such process on this host
	id := e.named(t, "facts", &container.Config{Cmd: []string{"sleep", "100"}})
	e.startC(t, id)

	_, body := e.do(t, http.MethodGet, "/containers/facts/top", "")
	var top container.TopResponse
	if err := json.Unmarshal([]byte(body), &top); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(top.Processes) != 1 {
		t.Fatalf("top: %s", body)
	}
	row := top.Processes[0]
	// The fake's process: uid 0, pid 777777, parent 0, 1 s of CPU, no tty.
	if row[0] != "root" || row[1] != "777777" || row[2] != "0" || row[5] != "?" || row[6] != "00:00:01" || row[7] != "sleep 100" {
		t.Errorf("top row %q", row)
	}

	_, body = e.do(t, http.MethodGet, "/containers/facts/stats?stream=false&one-shot=true", "")
	var st container.StatsResponse
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if st.CPUStats.SystemUsage == 0 || st.CPUStats.SystemUsage != 2*st.CPUStats.CPUUsage.TotalUsage || st.MemoryStats.Limit != 1<<30 {
		t.Errorf("stats: %s", body)
	}

	_, body = e.do(t, http.MethodGet, "/info", "")
	var info map[string]any
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatal(err)
	}
	h := containerstest.FakeHost
	for k, want := range map[string]any{
		"MemTotal": float64(h.MemTotal), "NCPU": float64(h.Ncpu), "KernelVersion": h.KernelVersion,
		"OperatingSystem": h.OperatingSystem, "OSVersion": h.OsVersion, "Architecture": h.Architecture,
		"CgroupVersion": h.CgroupVersion, "SwapLimit": false, "MemoryLimit": true, "OomKillDisable": true,
	} {
		if info[k] != want {
			t.Errorf("info %s = %v, want %v", k, info[k], want)
		}
	}
	warnings, _ := json.Marshal(info["Warnings"])
	if want := strconv.Quote("WARNING: No swap limit support"); !strings.Contains(string(warnings), want) {
		t.Errorf("warnings %s lack %s", warnings, want)
	}
}
