package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestUpdateFlagsToRequest(t *testing.T) {
	host := engine(t)
	if _, errOut, code := ctl(t, host, "run", "-d", "--name", "up", "-m", "64m", "busybox", "sleep"); code != 0 {
		t.Fatalf("run -d: %s", errOut)
	}
	out, errOut, code := ctl(t, host, "update", "-m", "32m", "--memory-swap", "-1", "--pids-limit", "20", "-c", "512", "--cpus", "0.5", "--restart", "on-failure:3", "up")
	if code != 0 || out != "up\n" {
		t.Fatalf("update: %d %q %q", code, out, errOut)
	}
	var hc container.HostConfig
	got, _, _ := ctl(t, host, "inspect", "-f", "{{json .HostConfig}}", "up")
	if err := json.Unmarshal([]byte(got), &hc); err != nil {
		t.Fatalf("inspect: %v %q", err, got)
	}
	if hc.Memory != 32<<20 || hc.MemorySwap != -1 || *hc.PidsLimit != 20 || hc.CPUShares != 512 || hc.NanoCPUs != 5e8 ||
		hc.RestartPolicy != (container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}) {
		t.Errorf("HostConfig after update: %+v", hc)
	}
	for _, bad := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"update", "up"}, 1, "you must provide one or more flags"},
		{[]string{"update", "-m", "lots", "up"}, 125, `invalid argument "lots" for "-m, --memory" flag`},
		{[]string{"update", "--cpus", "x", "up"}, 125, `invalid argument "x" for "--cpus" flag`},
		{[]string{"update", "-m", "4m", "up"}, 1, "Minimum memory limit allowed is 6MB"},
		{[]string{"update", "--pids-limit", "5", "up", "nope"}, 1, "No such container: nope"},
	} {
		out, errOut, code := ctl(t, host, bad.args...)
		if code != bad.code || !strings.Contains(errOut, bad.msg) {
			t.Errorf("%q: %d %q %q", bad.args, code, out, errOut)
		}
	}
	// The good container of a partly failed update was updated.
	if got, _, _ := ctl(t, host, "inspect", "-f", "{{json .HostConfig.PidsLimit}}", "up"); got != "5\n" {
		t.Errorf("pids limit after update of up and nope: %q", got)
	}
}
