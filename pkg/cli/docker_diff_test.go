package cli

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/testprereq"
)

// TestCreateRequestSameAsDocker runs the docker binary and ctl with the
// same command lines against one recording engine and compares the create
// requests they send, field by field. Skipped without docker, except under
// CI=true.
func TestCreateRequestSameAsDocker(t *testing.T) {
	docker, err := exec.LookPath("docker")
	testprereq.Require(t, err == nil, "docker CLI: %v", err)
	dir, err := os.MkdirTemp("", "dd") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	rec := startRecorder(t, map[string]func(http.ResponseWriter, request){
		"POST /containers/create": reply(201, `{"Id":"0123456789ab","Warnings":[]}`),
	}, filepath.Join(dir, "e.sock"))
	t.Setenv("DOCKER_CONFIG", dir) // no config file: no proxies, no credentials
	t.Setenv("FROM_HOST", "h")
	os.WriteFile(filepath.Join(dir, "env"), []byte("A=1\n# c\nFROM_HOST\n  C=3\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "labels"), []byte("l1=x\nl2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "seccomp.json"), []byte("{\n \"defaultAction\": \"SCMP_ACT_ALLOW\" }\n"), 0o644)
	f := func(name string) string { return filepath.Join(dir, name) }

	for _, line := range [][]string{
		{"img"},
		{"img", "echo", "hi"},
		{"-e", "A=1", "-e", "FROM_HOST", "-e", "UNSET_X", "-e", "A=2", "--env-file", f("env"), "img"},
		{"-l", "a=b", "-l", "c", "--label-file", f("labels"), "img"},
		{"-w", "/tmp", "-u", "1000:1000", "--group-add", "10", "-h", "box", "--domainname", "dom", "-t", "-i", "--read-only", "img"},
		{"-a", "stdin", "-a", "STDOUT", "img"},
		{"--device", "/dev/null", "--device", "/dev/zero:/dev/z:rw", "--device", "/dev/sda:r", "--device", "/dev//null/", "--device", "vendor.com/gpu=all", "--device-cgroup-rule", "c 1:3 rwm", "img"},
		{"--device-read-bps", "/dev/sda:1mb", "--device-write-bps", "/dev/sda:10", "--device-read-iops", "/dev/sda:100", "--device-write-iops", "/dev/sdb:5", "--blkio-weight", "300", "--blkio-weight-device", "/dev/sda:200", "img"},
		{"--cap-add", "net_admin", "--cap-add", "CAP_SYS_TIME", "--cap-drop", "ALL", "--privileged", "img"},
		{"--security-opt", "seccomp=" + f("seccomp.json"), "--security-opt", "no-new-privileges", "--security-opt", "apparmor=unconfined", "--security-opt", "label=disable", "--security-opt", "systempaths=unconfined", "img"},
		{"--pid", "host", "--ipc", "shareable", "--uts", "host", "--userns", "host", "--cgroupns", "private", "img"},
		{"-m", "64m", "--memory-swap", "-1", "--memory-reservation", "32m", "--memory-swappiness", "10", "--cpus", "1.5", "-c", "512", "--cpu-period", "100000", "--cpu-quota", "50000",
			"--cpu-rt-period", "1000", "--cpu-rt-runtime", "500", "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--pids-limit", "100", "--oom-kill-disable", "--oom-score-adj", "500", "--shm-size", "128m", "img"},
		{"--ulimit", "nofile=1024:2048", "--ulimit", "nproc=10", "--ulimit", "core=-1", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=1000", "img"},
		{"--init", "--stop-signal", "SIGUSR1", "--stop-timeout", "5", "--restart", "on-failure:3", "--name", "n", "img"},
		{"--init=false", "--rm", "img"},
		{"--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3", "--cgroup-parent", "/p", "img"},
		{"--health-cmd", "true", "--health-interval", "5s", "--health-timeout", "2s", "--health-retries", "3", "--health-start-period", "10s", "--health-start-interval", "1s", "img"},
		{"--no-healthcheck", "img"},
		{"--network", "host", "img"},
		{"--net", "none", "img"},
		{"--network", "mynet", "--network-alias", "a1", "--net-alias", "a2", "--ip", "10.0.0.5", "--ip6", "2001:db8::5", "--link", "other:o", "--link-local-ip", "169.254.1.1", "--mac-address", "92:d0:c6:0a:29:33", "img"},
		{"--network", "name=mynet,alias=x,ip=10.1.1.1,driver-opt=com.foo=bar,gw-priority=5", "--network", "name=other", "img"},
		{"--link", "other:alias", "--mac-address", "92:d0:c6:0a:29:33", "img"},
		{"--dns", "8.8.8.8", "--dns", "::1", "--dns-search", "example.com", "--dns-search", ".", "--dns-option", "ndots:2", "--dns-opt", "rotate",
			"--add-host", "foo:1.2.3.4", "--add-host", "bar=::1", "--add-host", "gw:host-gateway", "--add-host", "v6:[::2]", "img"},
		{"-p", "80", "-p", "8080:80", "-p", "127.0.0.1:8081:81/udp", "-p", "9000-9001:9000-9001", "-p", "[::1]:53:53/udp", "-p", "published=8443,target=443", "-P", "--expose", "7000-7002", "--expose", "6000/udp", "img"},
		{"-v", "/data", "-v", "/host:/ctr:ro", "-v", "./rel:/rel", "-v", "named:/named", "-v", "/data", "img"},
		{"--mount", "type=bind,src=/a,dst=/b,readonly", "--mount", "type=volume,source=v,target=/v,volume-label=a=b,volume-opt=o=p,volume-nocopy",
			"--mount", "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777", "--mount", "target=/anon", "--mount", "type=bind,src=.,dst=/x,bind-propagation=rshared,bind-recursive=disabled", "img"},
		{"--tmpfs", "/run", "--tmpfs", "/tmp:rw,size=64m", "--volumes-from", "other:ro", "--volume-driver", "local", "--storage-opt", "size=10G", "img"},
		{"--runtime", "crun", "--isolation", "default", "--platform", "linux/amd64", "--annotation", "a=b", "--annotation", "c", "img"},
		{"--gpus", "all", "--gpus", "driver=nvidia,count=2,capabilities=compute,options=a=b", "--gpus", `"device=0,1"`, "img"},
		{"--entrypoint", "/bin/sh", "img", "-c", "x"},
		{"--entrypoint=", "img"},
	} {
		args := append([]string{"create", "--pull", "never"}, line...)
		cmd := exec.Command(docker, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+rec.host)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %q: %v\n%s", line, err, out)
		}
		theirs := rec.requests()
		if _, errOut, code := rec.run(t, "", args...); code != 0 {
			t.Fatalf("ctl %q: %d %s", line, code, errOut)
		}
		ours := rec.requests()
		if len(theirs) != 1 || len(ours) != 1 {
			t.Fatalf("%q: docker sent %v, ctl %v", line, paths(theirs), paths(ours))
		}
		if theirs[0].Query.Encode() != ours[0].Query.Encode() {
			t.Errorf("%q: query %q, docker's %q", line, ours[0].Query.Encode(), theirs[0].Query.Encode())
		}
		want, got := comparable(t, theirs[0].Body), comparable(t, ours[0].Body)
		for k := range want {
			if !reflect.DeepEqual(want[k], got[k]) {
				w, _ := json.Marshal(want[k])
				g, _ := json.Marshal(got[k])
				t.Errorf("%q: %s is\n%s\ndocker sends\n%s", line, k, g, w)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%q: ctl sends %s, docker does not", line, k)
			}
		}
	}
}

// comparable flattens a create request to its top-level, HostConfig and
// NetworkingConfig fields, without what cannot be the same: the fields the
// moby API types dropped since docker 28 (Config.OnBuild, Config.MacAddress,
// HostConfig.KernelMemory), and the order of Env and Binds, which docker's
// CLI takes from maps.
func comparable(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for k, v := range req {
		switch k {
		case "OnBuild", "MacAddress":
		case "Env":
			out[k] = sorted(v)
		case "HostConfig":
			for hk, hv := range v.(map[string]any) {
				switch hk {
				case "KernelMemory":
				case "Binds":
					out["HostConfig."+hk] = sorted(hv)
				default:
					out["HostConfig."+hk] = hv
				}
			}
		default:
			out[k] = v
		}
	}
	return out
}

func sorted(v any) any {
	if list, ok := v.([]any); ok {
		slices.SortFunc(list, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
	}
	return v
}
