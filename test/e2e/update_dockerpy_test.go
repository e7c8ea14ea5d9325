package e2e

import "testing"

// docker-py's Container.update: the limits reach the running container,
// the reply is dockerd's, and the kernel memory it can still send is
// refused by name.
func TestDockerPyUpdate(t *testing.T) {
	py := requireDockerPy(t)
	s := newStack(t)
	s.loadBusybox()
	script := `
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
ct = c.containers.run("busybox", ["sleep", "1000"], detach=True, name="pyupd", mem_limit="64m", memswap_limit="128m")
r = ct.update(mem_limit="48m", memswap_limit="96m", cpu_shares=512, restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
assert r == {"Warnings": []}, r
ct.reload()
hc = ct.attrs["HostConfig"]
assert (hc["Memory"], hc["MemorySwap"], hc["CpuShares"]) == (48 << 20, 96 << 20, 512), hc
assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}, hc["RestartPolicy"]
out = ct.exec_run(["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "/sys/fs/cgroup/cpu/cpu.shares"]).output.split()
assert out == [str(48 << 20).encode(), str(96 << 20).encode(), b"512"], out
try:
    ct.update(kernel_memory="10m")
    raise SystemExit("kernel_memory accepted")
except docker.errors.APIError as e:
    assert e.status_code == 400 and "KernelMemory" in str(e), e
try:
    ct.update(mem_limit="1m")
    raise SystemExit("1m accepted")
except docker.errors.APIError as e:
    assert e.status_code == 400 and "Minimum memory limit allowed is 6MB" in str(e), e
ct.reload()
assert ct.attrs["HostConfig"]["Memory"] == 48 << 20
ct.remove(force=True)
print("ok")
`
	s.runDockerPy(py, script)
}
