package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
	"github.com/berthd/berth/test/image"
)

// dockerOut runs the docker CLI, fails unless it exits 0, and returns its
// trimmed output.
func (s *stack) dockerOut(args ...string) string {
	s.t.Helper()
	out, errOut, code := s.docker(args...)
	if code != 0 {
		s.t.Fatalf("docker %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// httpd runs a busybox web server answering "hello from NAME".
func httpdArgs(name string) []string {
	return []string{"busybox", "sh", "-c", "mkdir -p /www && echo hello from " + name + " > /www/index.html && exec httpd -f -p 80 -h /www"}
}

func requireNetTools(t *testing.T) {
	for _, tool := range []string{"ip", "nft"} {
		_, err := exec.LookPath(tool)
		testprereq.Require(t, err == nil, "%s", tool)
	}
}

// wgetHost fetches a URL from the host (the test's own namespace).
func wgetHost(t *testing.T, url string) (string, error) {
	t.Helper()
	// No -T: busybox 1.35's wget crashes with it; the context bounds it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, image.BusyboxPath, "wget", "-q", "-O", "-", url).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestNetworkPublishedPort(t *testing.T) {
	requireNetTools(t)
	s := newStack(t)
	s.loadBusybox()
	id := s.dockerOut(append([]string{"run", "-d", "--name", "web", "-p", "127.0.0.1::80"}, httpdArgs("web")...)...)
	hostPort := s.dockerOut("port", "web", "80")
	if !strings.HasPrefix(hostPort, "127.0.0.1:") {
		t.Fatalf("docker port web 80: %q", hostPort)
	}
	// The host port is held: no process of the host can take it meanwhile.
	if l, err := net.Listen("tcp4", hostPort); err == nil {
		l.Close()
		t.Fatalf("a host process could listen on the published %s", hostPort)
	}
	var body string
	eventually(t, "httpd answers through the published port", func() bool {
		b, err := wgetHost(t, "http://"+hostPort+"/")
		body = b
		return err == nil
	})
	if body != "hello from web" {
		t.Fatalf("from the host: %q", body)
	}
	ip := s.dockerOut("inspect", "-f", "{{.NetworkSettings.IPAddress}}", id)
	gw := s.dockerOut("inspect", "-f", "{{.NetworkSettings.Gateway}}", id)
	if ip == "" || gw == "" {
		t.Fatalf("inspect: IPAddress %q Gateway %q", ip, gw)
	}
	// And directly by its address, from another container on the default bridge.
	out := s.dockerOut("run", "--rm", "busybox", "sh", "-c", "wget -q -O - http://"+ip+"/")
	if out != "hello from web" {
		t.Fatalf("from a bridge container by IP: %q", out)
	}
	// A second container reaches it through the host port: from the host's
	// namespace (--network host) on 127.0.0.1.
	out = s.dockerOut("run", "--rm", "--network", "host", "busybox", "sh", "-c", "wget -q -O - http://"+hostPort+"/")
	if out != "hello from web" {
		t.Fatalf("from a --network host container: %q", out)
	}
	// --network host is the host's own network namespace.
	hostNS, _ := os.Readlink("/proc/self/ns/net")
	if ns := s.dockerOut("run", "--rm", "--network", "host", "busybox", "readlink", "/proc/self/ns/net"); ns != hostNS || ns == "" {
		t.Fatalf("--network host namespace %q, the host's %q", ns, hostNS)
	}
	// Published on every address: other containers reach it through the
	// gateway's address and the host port (hairpin through the host).
	s.dockerOut(append([]string{"run", "-d", "--name", "web2", "-p", "80"}, httpdArgs("web2")...)...)
	port2 := s.dockerOut("port", "web2", "80/tcp")
	_, p2, _ := strings.Cut(port2, ":")
	eventually(t, "web2 answers on the gateway's address", func() bool {
		b, err := wgetHost(t, "http://"+gw+":"+p2+"/")
		return err == nil && b == "hello from web2"
	})
	out = s.dockerOut("run", "--rm", "busybox", "sh", "-c", "wget -q -O - http://"+gw+":"+p2+"/")
	if out != "hello from web2" {
		t.Fatalf("from a bridge container through %s:%s: %q", gw, p2, out)
	}
	s.dockerOut("rm", "-f", "web2")

	ps := s.dockerOut("ps", "--format", "{{.Ports}}")
	if !strings.Contains(ps, hostPort+"->80/tcp") {
		t.Fatalf("ps PORTS: %q, want %s->80/tcp", ps, hostPort)
	}
	s.dockerOut("rm", "-f", "web")
	if leaks := s.netLeaks(); len(leaks) > 0 {
		t.Fatalf("after rm: %v", leaks)
	}
	if _, err := wgetHost(t, "http://"+hostPort+"/"); err == nil {
		t.Fatalf("the port still answers after rm")
	}
	l, err := net.Listen("tcp4", hostPort)
	if err != nil {
		t.Fatalf("the host port stays held after rm: %v", err)
	}
	l.Close()
}

// reach says whether container from can fetch the web page of addr.
func (s *stack) reach(from, addr string) (string, bool) {
	out, _, code := s.docker("exec", from, "sh", "-c", "timeout 3 wget -q -O - http://"+addr+"/")
	return strings.TrimSpace(out), code == 0
}

func TestNetworkUserNetworks(t *testing.T) {
	requireNetTools(t)
	s := newStack(t)
	s.loadBusybox()
	s.dockerOut("network", "create", "--subnet", "10.231.0.0/24", "--ip-range", "10.231.0.128/25", "--label", "app=a",
		"-o", "com.docker.network.driver.mtu=1400", "neta")
	s.dockerOut("network", "create", "--subnet", "10.232.0.0/24", "netb")
	s.dockerOut("network", "create", "--internal", "--subnet", "10.233.0.0/24", "netint")
	ls := s.dockerOut("network", "ls", "--format", "{{.Name}} {{.Driver}}")
	for _, want := range []string{"bridge bridge", "host host", "none null", "neta bridge", "netb bridge", "netint bridge"} {
		if !strings.Contains(ls+"\n", want+"\n") {
			t.Fatalf("network ls: %q lacks %q", ls, want)
		}
	}
	if got := s.dockerOut("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.IPRange}} {{.Gateway}}{{end}} {{.Labels.app}} {{index .Options \"com.docker.network.driver.mtu\"}}", "neta"); got != "10.231.0.0/24 10.231.0.128/25 10.231.0.1 a 1400" {
		t.Fatalf("network inspect: %q", got)
	}

	s.dockerOut(append([]string{"run", "-d", "--name", "a1", "--network", "neta", "--ip", "10.231.0.10"}, httpdArgs("a1")...)...)
	s.dockerOut(append([]string{"run", "-d", "--name", "a2", "--network", "neta"}, httpdArgs("a2")...)...)
	s.dockerOut(append([]string{"run", "-d", "--name", "b1", "--network", "netb"}, httpdArgs("b1")...)...)
	s.dockerOut(append([]string{"run", "-d", "--name", "i1", "--network", "netint"}, httpdArgs("i1")...)...)
	ipOf := func(name, net string) string {
		return s.dockerOut("inspect", "-f", "{{(index .NetworkSettings.Networks \""+net+"\").IPAddress}}", name)
	}
	a1, a2, b1 := ipOf("a1", "neta"), ipOf("a2", "neta"), ipOf("b1", "netb")
	if a1 != "10.231.0.10" || !strings.HasPrefix(a2, "10.231.0.") || a2 == a1 {
		t.Fatalf("addresses on neta: %s %s (want --ip 10.231.0.10 and one of the range)", a1, a2)
	}
	if mtu := s.dockerOut("exec", "a1", "cat", "/sys/class/net/eth0/mtu"); mtu != "1400" {
		t.Fatalf("mtu in a1: %s", mtu)
	}
	var body string
	eventually(t, "a2 reaches a1 on neta", func() bool {
		b, ok := s.reach("a2", a1)
		body = b
		return ok
	})
	if body != "hello from a1" {
		t.Fatalf("a2 -> a1: %q", body)
	}
	// Isolation: neither way between neta and netb.
	if b, ok := s.reach("a1", b1); ok {
		t.Fatalf("neta reached netb: %q", b)
	}
	if b, ok := s.reach("b1", a1); ok {
		t.Fatalf("netb reached neta: %q", b)
	}
	// The members are listed in network inspect.
	members := s.dockerOut("network", "inspect", "-f", "{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}", "neta")
	if !strings.Contains(members, "a1=10.231.0.10/24") || !strings.Contains(members, "a2="+a2+"/24") {
		t.Fatalf("neta members: %q", members)
	}
	// Internal: no default route, no way to other networks nor to the
	// host's other addresses (the default bridge's gateway).
	if r := s.dockerOut("exec", "i1", "ip", "route"); strings.Contains(r, "default") {
		t.Fatalf("internal network has a default route: %q", r)
	}
	bridgeGW := s.dockerOut("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "bridge")
	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("host\n"), 0o644)
	httpd := exec.Command(image.BusyboxPath, "httpd", "-f", "-p", bridgeGW+":18080", "-h", www)
	if err := httpd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { httpd.Process.Kill(); httpd.Wait() }()
	eventually(t, "a1 reaches a host address", func() bool { b, ok := s.reach("a1", bridgeGW+":18080"); return ok && b == "host" })
	if b, ok := s.reach("i1", bridgeGW+":18080"); ok {
		t.Fatalf("the internal network reached the host's %s: %q", bridgeGW, b)
	}
	if b, ok := s.reach("i1", a1); ok {
		t.Fatalf("the internal network reached neta: %q", b)
	}
	// connect: a1 joins netb and reaches b1 there; disconnect takes it away.
	s.dockerOut("network", "connect", "netb", "a1")
	eventually(t, "a1 reaches b1 after connect", func() bool { _, ok := s.reach("a1", b1); return ok })
	if ifs := s.dockerOut("exec", "a1", "sh", "-c", "ls /sys/class/net | tr '\\n' ' '"); ifs != "eth0 eth1 lo" {
		t.Fatalf("a1 interfaces after connect: %q", ifs)
	}
	s.dockerOut("network", "disconnect", "netb", "a1")
	if ifs := s.dockerOut("exec", "a1", "sh", "-c", "ls /sys/class/net | tr '\\n' ' '"); ifs != "eth0 lo" {
		t.Fatalf("a1 interfaces after disconnect: %q", ifs)
	}
	// --network none: loopback only, and no network record.
	if out := s.dockerOut("run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net | tr '\\n' ' '"); out != "lo" {
		t.Fatalf("--network none: %q", out)
	}
	// Bad input: docker's errors, nothing half made.
	before := s.dockerOut("network", "ls", "-q")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "--subnet", "10.231.0.0/16", "overlap"}, "Pool overlaps with other one on this address space"},
		{[]string{"network", "create", "neta"}, "network with name neta already exists"},
		{[]string{"network", "create", "--subnet", "fdb3:e1ff::/64", "v6"}, "given without --ipv6"},
		{[]string{"network", "rm", "neta"}, "has active endpoints"},
		{[]string{"network", "rm", "bridge"}, "bridge is a pre-defined network and cannot be removed"},
		{[]string{"run", "--rm", "--network", "neta", "--ip", "10.99.0.5", "busybox", "true"}, "no configured subnet contains IP address 10.99.0.5"},
		{[]string{"run", "--rm", "--ip", "172.30.0.5", "busybox", "true"}, "user specified IP address is supported on user defined networks only"},
		{[]string{"run", "--rm", "--network", "nosuch", "busybox", "true"}, "network nosuch not found"},
		{[]string{"run", "--rm", "--network", "neta", "--ip", "10.231.0.10", "busybox", "true"}, "Address already in use"},
	} {
		_, errOut, code := s.docker(c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("docker %v: exit %d, stderr %q, want %q", c.args, code, errOut, c.want)
		}
	}
	if after := s.dockerOut("network", "ls", "-q"); after != before {
		t.Errorf("failed network commands changed the list:\n%s\n%s", before, after)
	}
	s.dockerOut("run", "-d", "--name", "p1", "-p", "127.0.0.1::80", "busybox", "sleep", "100")
	_, port, _ := strings.Cut(s.dockerOut("port", "p1", "80"), ":")
	_, errOut, code := s.docker("run", "--rm", "-p", "127.0.0.1:"+port+":80", "busybox", "true")
	if code == 0 || !strings.Contains(errOut, "Bind for 127.0.0.1:"+port+" failed: port is already allocated") {
		t.Errorf("port taken twice: exit %d, %q", code, errOut)
	}
	if ps := s.dockerOut("ps", "-aq"); len(strings.Fields(ps)) != 5 {
		t.Errorf("failed runs left containers: %q", ps)
	}

	// Removing everything leaves nothing: veths, rules, leases, netns.
	for _, c := range []string{"a1", "a2", "b1", "i1", "p1"} {
		s.dockerOut("rm", "-f", c)
	}
	if leaks := s.netLeaks(); len(leaks) > 0 {
		t.Fatalf("after rm: %v", leaks)
	}
	if out := s.dockerOut("network", "prune", "-f"); !strings.Contains(out, "neta") || !strings.Contains(out, "netint") {
		t.Fatalf("prune: %q", out)
	}
	if ls := s.dockerOut("network", "ls", "--format", "{{.Name}}"); strings.Join(strings.Fields(ls), ",") != "bridge,host,none" {
		t.Fatalf("after prune: %q", ls)
	}
}

// TestNetworkEngineCrash: published ports keep working while engined is
// killed; a container that dies meanwhile leaves nothing once engined is
// back (reconcile), and the one still running keeps its address and port.
func TestNetworkEngineCrash(t *testing.T) {
	requireNetTools(t)
	s := newStack(t)
	s.loadBusybox()
	s.dockerOut(append([]string{"run", "-d", "--name", "stay", "-p", "127.0.0.1::80"}, httpdArgs("stay")...)...)
	s.dockerOut(append([]string{"run", "-d", "--name", "dies", "-p", "127.0.0.1::80"}, httpdArgs("dies")...)...)
	stayPort := s.dockerOut("port", "stay", "80")
	diesPort := s.dockerOut("port", "dies", "80")
	diesID := s.dockerOut("inspect", "-f", "{{.Id}}", "dies")
	diesPid := s.containerPid(diesID)
	eventually(t, "stay answers", func() bool {
		b, err := wgetHost(t, "http://"+stayPort+"/")
		return err == nil && b == "hello from stay"
	})

	s.kill9(s.engine)
	if b, err := wgetHost(t, "http://"+stayPort+"/"); err != nil || b != "hello from stay" {
		t.Fatalf("published port while engined is down: %q %v", b, err)
	}
	if err := syscall.Kill(diesPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.startEngine()
	eventually(t, "dies recorded exited", func() bool {
		return s.dockerOut("inspect", "-f", "{{.State.Running}}", "dies") == "false"
	})
	if b, err := wgetHost(t, "http://"+diesPort+"/"); err == nil {
		t.Fatalf("the dead container's port still answers: %q", b)
	}
	if _, err := os.Stat(filepath.Join(s.root, "engrun", "netns", diesID)); err == nil {
		t.Fatalf("the dead container's namespace is still held")
	}
	// Nor its veth (stay's is the bridge's only one), lease or live record.
	eventually(t, "the dead container's veth goes", func() bool {
		b, _ := exec.Command("ip", "-o", "link", "show", "master", s.bridge).Output()
		return len(strings.Split(strings.TrimSpace(string(b)), "\n")) == 1
	})
	// Its lease's file is written in the background too (ipam.FlushDelay).
	eventually(t, "the dead container's lease goes", func() bool {
		leases, _ := exec.Command("sh", "-c", "cat "+s.root+"/eng/network/ipam/*.json").Output()
		return !strings.Contains(string(leases), diesID)
	})
	if _, err := os.Stat(filepath.Join(s.root, "engrun", "network", diesID+".json")); err == nil {
		t.Fatalf("the dead container's live record is kept")
	}
	if b, err := wgetHost(t, "http://"+stayPort+"/"); err != nil || b != "hello from stay" {
		t.Fatalf("published port after engined's restart: %q %v", b, err)
	}
	if got := s.dockerOut("port", "stay", "80"); got != stayPort {
		t.Fatalf("stay's port after restart: %s, was %s", got, stayPort)
	}
	if l, err := net.Listen("tcp4", stayPort); err == nil {
		l.Close()
		t.Fatalf("the new engined does not hold %s again", stayPort)
	}
	// Restarted, the dead one gets its network back.
	s.dockerOut("start", "dies")
	newPort := s.dockerOut("port", "dies", "80")
	eventually(t, "dies answers after start", func() bool { b, err := wgetHost(t, "http://"+newPort+"/"); return err == nil && b == "hello from dies" })
}

// TestNetworkNameResolution: on a user network containers find each other
// by name, alias and short ID through the embedded DNS (127.0.0.11),
// also a container started later and one connected later; the default
// bridge has no such names.
func TestNetworkNameResolution(t *testing.T) {
	requireNetTools(t)
	s := newStack(t)
	s.loadBusybox()
	since := strconv.FormatInt(time.Now().Unix(), 10)
	s.dockerOut("network", "create", "--subnet", "10.234.0.0/24", "app")
	s.dockerOut(append([]string{"run", "-d", "--name", "web", "--network", "app", "--network-alias", "www"}, httpdArgs("web")...)...)
	// --dns 127.0.0.1: the names the embedded server does not know go to
	// the host's loopback (nothing answers there), never off the machine.
	s.dockerOut("run", "-d", "--name", "client", "--network", "app", "--dns", "127.0.0.1", "busybox", "sleep", "300")
	webIP := s.dockerOut("inspect", "-f", "{{(index .NetworkSettings.Networks \"app\").IPAddress}}", "web")
	webID := s.dockerOut("inspect", "-f", "{{.Id}}", "web")
	if rc := s.dockerOut("exec", "client", "cat", "/etc/resolv.conf"); !strings.Contains(rc, "nameserver 127.0.0.11") || !strings.Contains(rc, "ndots:0") {
		t.Fatalf("resolv.conf on a user network: %q", rc)
	}
	for _, name := range []string{"web", "www", "WEB", webID[:12]} {
		out, errOut, code := s.docker("exec", "client", "nslookup", name)
		if code != 0 || !strings.Contains(out, webIP) {
			t.Fatalf("nslookup %s: exit %d %q %q (want %s)", name, code, out, errOut, webIP)
		}
	}
	var body string
	eventually(t, "client fetches http://www/", func() bool {
		b, ok := s.reach("client", "www")
		body = b
		return ok
	})
	if body != "hello from web" {
		t.Fatalf("http://www/: %q", body)
	}
	// Started later: found at once.
	s.dockerOut("run", "-d", "--name", "late", "--network", "app", "busybox", "sleep", "300")
	lateIP := s.dockerOut("inspect", "-f", "{{(index .NetworkSettings.Networks \"app\").IPAddress}}", "late")
	if out, _, code := s.docker("exec", "client", "nslookup", "late"); code != 0 || !strings.Contains(out, lateIP) {
		t.Fatalf("nslookup late: %q", out)
	}
	// Connected later: found on that network.
	s.dockerOut("run", "-d", "--name", "other", "busybox", "sleep", "300")
	if _, _, code := s.docker("exec", "client", "nslookup", "other"); code == 0 {
		t.Fatalf("a container on the default bridge resolved on app")
	}
	s.dockerOut("network", "connect", "--alias", "db", "app", "other")
	otherIP := s.dockerOut("inspect", "-f", "{{(index .NetworkSettings.Networks \"app\").IPAddress}}", "other")
	if out, _, code := s.docker("exec", "client", "nslookup", "db"); code != 0 || !strings.Contains(out, otherIP) {
		t.Fatalf("nslookup db after connect: %q", out)
	}
	// Gone when stopped.
	s.dockerOut("stop", "-t", "0", "late")
	if out, _, code := s.docker("exec", "client", "nslookup", "late"); code == 0 {
		t.Fatalf("a stopped container still resolves: %q", out)
	}
	// The default bridge has no embedded DNS, as with dockerd.
	if rc := s.dockerOut("exec", "other", "cat", "/etc/resolv.conf"); strings.Contains(rc, "127.0.0.11") {
		t.Fatalf("default bridge resolv.conf: %q", rc)
	}
	// Network events, as dockerd's: create, connect at start and at
	// network connect, disconnect at stop.
	until := strconv.FormatInt(time.Now().Unix()+1, 10)
	evs := s.dockerOut("events", "--since", since, "--until", until, "--filter", "type=network", "--filter", "network=app", "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}")
	for _, want := range []string{"create app bridge", "connect app bridge", "disconnect app bridge"} {
		if !strings.Contains(evs, want) {
			t.Fatalf("network events %q lack %q", evs, want)
		}
	}
	// Aliases are for user networks only.
	if _, errOut, code := s.docker("run", "--rm", "--network-alias", "x", "busybox", "true"); code == 0 || !strings.Contains(errOut, "network-scoped alias") {
		t.Fatalf("alias on the default bridge: %d %q", code, errOut)
	}
}

// TestNetworkDockerPy: docker-py's networks.create/connect/disconnect and
// a container finding another by an alias given at connect.
func TestNetworkDockerPy(t *testing.T) {
	requireNetTools(t)
	py := requireDockerPy(t)
	s := newStack(t)
	s.loadBusybox()
	script := `
import sys, time, docker
from docker.types import IPAMConfig, IPAMPool
c = docker.DockerClient(base_url=sys.argv[1])
net = c.networks.create("pynet", driver="bridge", labels={"k": "v"},
    ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="10.236.0.0/24", gateway="10.236.0.254")]))
net.reload()
cfg = net.attrs["IPAM"]["Config"][0]
assert cfg["Subnet"] == "10.236.0.0/24" and cfg["Gateway"] == "10.236.0.254", cfg
assert net.attrs["Labels"] == {"k": "v"}, net.attrs["Labels"]
srv = c.containers.run("busybox", ["sh", "-c", "mkdir -p /w && echo py > /w/index.html && exec httpd -f -p 80 -h /w"], detach=True, name="srv")
cli = c.containers.run("busybox", ["sleep", "300"], detach=True, name="cli", network="pynet", dns=["127.0.0.1"])
net.connect(srv, aliases=["api"])
net.reload()
assert sorted(ct.name for ct in net.containers) == ["cli", "srv"], net.containers
srv.reload()
ip = srv.attrs["NetworkSettings"]["Networks"]["pynet"]["IPAddress"]
assert ip.startswith("10.236.0."), ip
deadline = time.time() + 20
while True:
    r = cli.exec_run(["sh", "-c", "wget -q -O - http://api/"])
    if r.exit_code == 0:
        break
    assert time.time() < deadline, r
    time.sleep(0.2)
assert r.output == b"py\n", r.output
net.disconnect(srv)
srv.reload()
assert "pynet" not in srv.attrs["NetworkSettings"]["Networks"], srv.attrs["NetworkSettings"]["Networks"]
assert cli.exec_run(["nslookup", "api"]).exit_code != 0
for ct in (srv, cli):
    ct.remove(force=True)
net.remove()
assert [n.name for n in c.networks.list(names=["pynet"])] == [], c.networks.list()
print("ok")
`
	s.runDockerPy(py, script)
}

// TestNetworkHundredContainers: 100 containers on one network get 100
// distinct addresses, and removing them leaves nothing behind.
func TestNetworkHundredContainers(t *testing.T) {
	requireNetTools(t)
	s := newStack(t)
	s.loadBusybox()
	s.dockerOut("network", "create", "--subnet", "10.237.0.0/24", "many")
	seen := map[string]string{}
	var ids []string
	for i := 0; i < 100; i++ {
		id := s.dockerOut("run", "-d", "--network", "many", "busybox", "sleep", "600")
		ids = append(ids, id)
	}
	for _, id := range ids {
		ip := s.dockerOut("inspect", "-f", "{{(index .NetworkSettings.Networks \"many\").IPAddress}}", id)
		if other, dup := seen[ip]; dup || ip == "" {
			t.Fatalf("address %q of %s also given to %s", ip, id, other)
		}
		seen[ip] = id
	}
	s.dockerOut(append([]string{"rm", "-f"}, ids...)...)
	if leaks := s.netLeaks(); len(leaks) > 0 {
		t.Fatalf("after removing 100 containers: %v", leaks)
	}
	s.dockerOut("network", "rm", "many")
}

// ctl's network commands, as the docker CLI's.
func TestNetworkCtl(t *testing.T) {
	requireNetTools(t)
	s := newStack(t)
	s.loadBusybox()
	id := strings.TrimSpace(s.mustRun("network", "create", "--subnet", "10.236.0.0/24", "--gateway", "10.236.0.1", "--label", "k=v", "ctlnet"))
	if len(id) != 64 {
		t.Fatalf("network create printed %q", id)
	}
	if out := s.mustRun("network", "ls", "--filter", "label=k=v", "--format", "{{.Name}} {{.Driver}}"); out != "ctlnet bridge\n" {
		t.Errorf("network ls: %q", out)
	}
	if out := s.mustRun("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", "ctlnet"); out != "10.236.0.0/24 10.236.0.1\n" {
		t.Errorf("network inspect: %q", out)
	}
	s.mustRun("run", "-d", "--name", "n1", "busybox", "sleep", "60")
	s.mustRun("network", "connect", "--ip", "10.236.0.50", "--alias", "svc", "ctlnet", "n1")
	if out := s.mustRun("exec", "n1", "sh", "-c", "ip -4 addr | grep -o 10.236.0.50"); out != "10.236.0.50\n" {
		t.Errorf("connect --ip: %q", out)
	}
	if _, errOut, code := s.run("network", "rm", "ctlnet"); code == 0 || errOut == "" {
		t.Errorf("rm of a network in use: %d %q", code, errOut)
	}
	s.mustRun("network", "disconnect", "ctlnet", "n1")
	s.mustRun("rm", "-f", "n1")
	if out := s.mustRun("network", "prune", "-f"); out != "Deleted Networks:\nctlnet\n" {
		t.Errorf("network prune: %q", out)
	}
	if _, _, code := s.run("network", "create", "--gateway", "10.0.0.1", "nosubnet"); code == 0 {
		t.Error("a gateway without a subnet was accepted")
	}
}
