package containers

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
)

// hostResolvConf is read for the containers' resolv.conf, as dockerd
// does; a variable for tests.
var hostResolvConf = "/etc/resolv.conf"

// makeEtcFiles writes the etc files of a container with a network
// namespace of its own: writeEtcFiles, the embedded DNS server's
// resolv.conf, their owner under a remapped root. They are replaced but
// not synced, as dockerd writes them: they follow from the container's
// config, which is synced, and a start rewrites any that a power loss left
// empty (repairEtcFiles). Their six fsyncs (file and directory) were 3 to
// 7 ms of every create here.
func (d *Daemon) makeEtcFiles(c *Container, hostname, domainname string, hc *container.HostConfig) error {
	if err := writeEtcFiles(c, hostname, domainname, d.etcHostConfig(hc)); err != nil {
		return err
	}
	if err := d.netResolvConf(c); err != nil {
		return err
	}
	return d.chownToRemappedRoot(hc, c.HostnamePath, c.HostsPath, c.ResolvConfPath)
}

// repairEtcFiles writes the etc files again when one is missing or empty
// (a power loss after create): a stat each when they are whole.
func (d *Daemon) repairEtcFiles(c *Container) error {
	c.mu.Lock()
	cfg, hc := c.Config, c.HostConfig
	paths := []string{c.HostnamePath, c.HostsPath, c.ResolvConfPath}
	c.mu.Unlock()
	if cfg == nil || hc == nil || hc.NetworkMode.IsContainer() {
		return nil
	}
	for _, p := range paths {
		if p == "" {
			return nil
		}
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			return d.makeEtcFiles(c, cfg.Hostname, cfg.Domainname, hc)
		}
	}
	return nil
}

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf, which the spec bind-mounts: --add-host entries are
// appended to hosts; --dns, --dns-search and --dns-option replace the
// host's settings in resolv.conf, which otherwise starts from the host's
// file without its loopback resolvers (they cannot answer from another
// network namespace). With --network host the host's own files are copied.
func writeEtcFiles(c *Container, hostname, domainname string, hc *container.HostConfig) error {
	if err := writeHosts(c, hostname, domainname, hc, nil, atomicfile.Replace); err != nil {
		return err
	}
	if err := atomicfile.Replace(c.HostnamePath, []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	resolv, err := resolvConf(hc)
	if err != nil {
		return err
	}
	return atomicfile.Replace(c.ResolvConfPath, resolv, 0o644)
}

// hostsEntry is a line of /etc/hosts: an address and its names.
type hostsEntry struct {
	addr  netip.Addr
	names string
}

// writeHosts writes /etc/hosts with write. With no own entries (at
// create) the hostname is on 127.0.1.1; at start a container with
// addresses of its own gets, as with dockerd, the hostname on each of
// them, and the entries of its legacy links.
func writeHosts(c *Container, hostname, domainname string, hc *container.HostConfig, own []hostsEntry, write func(string, []byte, os.FileMode) error) error {
	fqdn := hostname
	if domainname != "" {
		fqdn = hostname + "." + domainname
	}
	names := hostname
	if fqdn != hostname {
		names = fqdn + " " + hostname
	}
	var hosts bytes.Buffer
	if hc.NetworkMode.IsHost() {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts.Write(b)
			if len(b) > 0 && b[len(b)-1] != '\n' {
				hosts.WriteByte('\n')
			}
		}
	} else {
		hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		hosts.WriteString("fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	}
	for _, h := range hc.ExtraHosts {
		name, addr, _ := strings.Cut(h, ":")
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			return &msgError{msg: fmt.Sprintf("invalid IP address in add-host: %q", addr), class: errdefs.ErrInvalidArgument}
		}
		fmt.Fprintf(&hosts, "%s\t%s\n", ip, name)
	}
	switch {
	case hc.NetworkMode.IsHost():
	case len(own) == 0:
		fmt.Fprintf(&hosts, "127.0.1.1\t%s\n", names)
	default:
		for _, e := range own {
			if e.names == "" {
				e.names = names
			}
			fmt.Fprintf(&hosts, "%s\t%s\n", e.addr, e.names)
		}
	}
	return write(c.HostsPath, hosts.Bytes(), 0o644)
}

// resolvConf is the container's resolv.conf.
func resolvConf(hc *container.HostConfig) ([]byte, error) {
	host, _ := os.ReadFile(hostResolvConf)
	var ns, search, opts []string
	for _, line := range strings.Split(string(host), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			ip, err := netip.ParseAddr(f[1])
			if err != nil || ip.IsLoopback() && !hc.NetworkMode.IsHost() {
				continue
			}
			ns = append(ns, ip.String())
		case "search", "domain":
			search = f[1:]
		case "options":
			opts = append(opts, f[1:]...)
		}
	}
	if len(hc.DNS) > 0 {
		ns = ns[:0]
		for _, a := range hc.DNS {
			ns = append(ns, a.String())
		}
	}
	if len(hc.DNSSearch) > 0 {
		search = hc.DNSSearch
		if len(search) == 1 && search[0] == "." {
			search = nil // "--dns-search ." clears the search list, as docker
		}
	}
	if len(hc.DNSOptions) > 0 {
		opts = hc.DNSOptions
	}
	var b bytes.Buffer
	b.WriteString("# Generated by berth engined\n")
	for _, s := range search {
		if strings.ContainsAny(s, " \t") {
			return nil, &msgError{msg: fmt.Sprintf("invalid DNS search domain %q", s), class: errdefs.ErrInvalidArgument}
		}
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, n := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.Bytes(), nil
}
