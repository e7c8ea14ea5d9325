package engine

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// engined asks the supervisor for a container's processes and readings
// and for the host's facts (top, stats, info): it reads no /proc/PID file,
// none of the host's /proc counters and no cgroup file itself (issue 13),
// and it links neither the shim nor the package supervisord reads the
// host with. Namespace paths (/proc/PID/ns/...) it only hands to the
// runtime; its own /proc/self it may read.
func TestEnginedReadsNoProcOrCgroup(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}{{range .GoFiles}} {{$.Dir}}/{{.}}{{end}}{{"\n"}}{{end}}`,
		"github.com/berthd/berth/cmd/engined").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	var files []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], "github.com/berthd/berth/") {
			continue
		}
		for _, banned := range []string{"github.com/berthd/berth/pkg/shim", "github.com/berthd/berth/pkg/sysinfo"} {
			if f[0] == banned || strings.HasPrefix(f[0], banned+"/") {
				t.Errorf("cmd/engined links %s", f[0])
			}
		}
		files = append(files, f[1:]...)
	}
	if len(files) < 50 {
		t.Fatalf("go list gave %d files: %s", len(files), out)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"/sys/fs/cgroup/", "cgroup.controllers", "cgroup.procs", "/proc/%d", `"/stat"`, `"/status"`, `"/cmdline"`,
			`"/proc/stat"`, `"/proc/meminfo"`, `"/proc/uptime"`} {
			if strings.Contains(string(b), s) {
				t.Errorf("%s mentions %q", f, s)
			}
		}
	}
}
