package e2e

import (
	"os/exec"
	"strings"
	"time"
)

// cleanupNetwork checks that the containers left no veth, lease, nft rule
// or namespace, then removes the stack's bridges and nftables table (which
// engined keeps across its own restarts, as dockerd keeps docker0).
func (s *stack) cleanupNetwork() {
	t := s.t
	if leaks := s.netLeaks(); len(leaks) > 0 && !t.Failed() {
		t.Errorf("network leftovers: %v", leaks)
	}
	for _, br := range s.bridges() {
		_ = exec.Command("ip", "link", "del", br).Run()
	}
	_ = exec.Command("nft", "delete", "table", "ip", s.table).Run()
	_ = exec.Command("nft", "delete", "table", "ip6", s.table).Run()
}

// bridges are the links whose master is nothing and that the stack made:
// its default bridge and the user networks' bridges it recorded.
func (s *stack) bridges() []string {
	out := []string{s.bridge}
	b, _ := exec.Command("sh", "-c", "cat "+s.root+"/eng/network/networks/*.json 2>/dev/null | grep -o '\"bridge\":\"[^\"]*\"'").Output()
	for _, l := range strings.Fields(string(b)) {
		name := strings.TrimSuffix(strings.TrimPrefix(l, `"bridge":"`), `"`)
		if name != s.bridge {
			out = append(out, name)
		}
	}
	return out
}

// netLeaks lists what containers left: veths on the stack's bridges,
// DNAT rules in its table, leases, namespaces under its exec root. A
// stopped container's veth is deleted, and its lease's file written, in
// the background: they get 5 s.
func (s *stack) netLeaks() []string {
	for i := 0; ; i++ {
		leaks := s.netLeaksNow()
		if len(leaks) == 0 || i == 50 || !strings.HasPrefix(leaks[0], "veth: ") && !strings.HasPrefix(leaks[0], "leases: ") {
			return leaks
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *stack) netLeaksNow() []string {
	var leaks []string
	for _, br := range s.bridges() {
		b, _ := exec.Command("ip", "-o", "link", "show", "master", br).Output()
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				leaks = append(leaks, "veth: "+l)
			}
		}
	}
	for _, family := range []string{"ip", "ip6"} {
		b, _ := exec.Command("nft", "list", "chain", family, s.table, "ports").Output()
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "dnat") {
				leaks = append(leaks, "nft "+family+": "+strings.TrimSpace(l))
			}
		}
	}
	b, _ := exec.Command("sh", "-c", "cat "+s.root+"/eng/network/ipam/*.json 2>/dev/null").Output()
	if strings.Contains(string(b), `"leases":{"`) {
		leaks = append(leaks, "leases: "+string(b))
	}
	b, _ = exec.Command("sh", "-c", "ls "+s.root+"/engrun/netns 2>/dev/null").Output()
	if f := strings.Fields(string(b)); len(f) > 0 {
		leaks = append(leaks, "netns: "+strings.Join(f, " "))
	}
	b, _ = exec.Command("sh", "-c", "ls "+s.root+"/engrun/network 2>/dev/null").Output()
	if f := strings.Fields(string(b)); len(f) > 0 {
		leaks = append(leaks, "live records: "+strings.Join(f, " "))
	}
	return leaks
}
