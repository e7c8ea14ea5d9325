package cli

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// build's RUN-container flags reach the engine as docker sends them;
// --compress gzips the context; what the engine does not do (squash,
// another isolation) it refuses, content trust is refused here.
func TestBuildFlags(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"POST /build": reply(200, `{"aux":{"ID":"sha256:`+strings.Repeat("a", 64)+`"}}`+"\n"),
	})
	_, errOut, code := rec.run(t, "", "build", "-q", "--compress", "-m", "64m", "--memory-swap", "-1", "--shm-size", "32m",
		"--add-host", "h:10.1.2.3", "--ulimit", "nofile=1234:1234", "-c", "512", "--cpu-period", "100000", "--cpu-quota", "50000",
		"--cpuset-cpus", "0", "--cpuset-mems", "0", "--cgroup-parent", "p", "--security-opt", "no-new-privileges", "--squash", "--isolation", "hyperv", dir)
	reqs := rec.requests()
	if code != 0 || len(reqs) != 1 {
		t.Fatalf("build: %d %q %v", code, errOut, reqs)
	}
	q := reqs[0].Query
	for k, want := range map[string]string{"memory": "67108864", "memswap": "-1", "shmsize": "33554432", "extrahosts": "h:10.1.2.3",
		"ulimits": `[{"Name":"nofile","Hard":1234,"Soft":1234}]`, "cpushares": "512", "cpuperiod": "100000", "cpuquota": "50000",
		"cpusetcpus": "0", "cpusetmems": "0", "cgroupparent": "p", "securityopt": "no-new-privileges", "squash": "1", "isolation": "hyperv"} {
		if got := q.Get(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if !bytes.HasPrefix(reqs[0].Body, []byte{0x1f, 0x8b}) {
		t.Errorf("--compress: the context is not gzipped (%x...)", reqs[0].Body[:min(4, len(reqs[0].Body))])
	}
	_, errOut, code = rec.run(t, "", "build", "--disable-content-trust=false", dir)
	if code != 125 || !strings.Contains(errOut, "content trust") || len(rec.requests()) != 0 {
		t.Errorf("--disable-content-trust=false: %d %q", code, errOut)
	}
}
