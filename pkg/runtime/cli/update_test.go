package cli

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"strings"
	"testing"
)

func parseArgs(t *testing.T, args ...string) *updateFlagsResult {
	t.Helper()
	cmd := updateCommand(&globals{})
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	r, err := parseUpdate(cmd.Flags(), nil)
	return &updateFlagsResult{r, err}
}

func TestParseUpdateFlags(t *testing.T) {
	res := parseArgs(t, "--memory", "32m", "--memory-swap", "-1", "--memory-reservation", "16777216",
		"--cpu-share", "512", "--cpu-period", "100000", "--cpu-quota", "-1", "--cpuset-cpus", "0",
		"--cpuset-mems", "0", "--pids-limit", "20", "--blkio-weight", "300", "--cpu-rt-period", "1000000", "--cpu-rt-runtime", "950000")
	if res.err != nil {
		t.Fatal(res.err)
	}
	r := res.r
	if *r.Memory.Limit != 32<<20 || *r.Memory.Swap != -1 || *r.Memory.Reservation != 16<<20 {
		t.Errorf("memory %+v", r.Memory)
	}
	if *r.CPU.Shares != 512 || *r.CPU.Period != 100000 || *r.CPU.Quota != -1 || r.CPU.Cpus != "0" || r.CPU.Mems != "0" ||
		*r.CPU.RealtimePeriod != 1000000 || *r.CPU.RealtimeRuntime != 950000 {
		t.Errorf("cpu %+v", r.CPU)
	}
	if *r.Pids.Limit != 20 || *r.BlockIO.Weight != 300 {
		t.Errorf("pids %+v blkio %+v", r.Pids, r.BlockIO)
	}
	// Only what was given is set: the rest stays unchanged.
	res = parseArgs(t, "--cpu-shares", "100")
	if res.err != nil || res.r.Memory != nil || res.r.Pids != nil || *res.r.CPU.Shares != 100 || res.r.CPU.Quota != nil {
		t.Errorf("cpu-shares alone: %+v %v", res.r, res.err)
	}
	if res = parseArgs(t, "--pids-limit", "0"); res.err != nil || *res.r.Pids.Limit != -1 {
		t.Errorf("pids-limit 0 is no limit: %+v %v", res.r, res.err)
	}
}

func TestParseUpdateRefuses(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no resources given"},
		{[]string{"--memory", "lots"}, "invalid value for memory"},
		{[]string{"--cpu-period", "-5"}, "invalid value for cpu-period"},
		{[]string{"--blkio-weight", "5"}, "between 10 and 1000"},
		{[]string{"--kernel-memory", "10m"}, "kernel memory"},
		{[]string{"--l3-cache-schema", "L3:0=f"}, "Intel RDT"},
		{[]string{"--mem-bw-schema", "MB:0=50"}, "Intel RDT"},
	} {
		res := parseArgs(t, c.args...)
		if res.err == nil || !strings.Contains(res.err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.args, res.err, c.want)
		}
	}
}

func TestParseUpdateJSON(t *testing.T) {
	cmd := updateCommand(&globals{})
	r, err := parseUpdate(cmd.Flags(), strings.NewReader(`{"memory":{"limit":33554432,"swap":67108864},"pids":{"limit":20},"cpu":{"cpus":"0"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *r.Memory.Limit != 32<<20 || *r.Memory.Swap != 64<<20 || *r.Pids.Limit != 20 || r.CPU.Cpus != "0" {
		t.Errorf("parsed %+v", r)
	}
	if _, err := parseUpdate(cmd.Flags(), strings.NewReader(`{"memroy":{}}`)); err == nil {
		t.Error("unknown field accepted")
	}
	if _, err := parseUpdate(cmd.Flags(), strings.NewReader(`{"memory":`)); err == nil {
		t.Error("truncated JSON accepted")
	}
	if err := cmd.ParseFlags([]string{"--memory", "32m"}); err != nil {
		t.Fatal(err)
	}
	if _, err := parseUpdate(cmd.Flags(), strings.NewReader(`{}`)); err == nil || !strings.Contains(err.Error(), "--memory cannot be combined") {
		t.Errorf("flag with --resources: %v", err)
	}
}

type updateFlagsResult struct {
	r   *specs.LinuxResources
	err error
}
