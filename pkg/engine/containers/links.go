package containers

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	enet "github.com/berthd/berth/pkg/engine/network"
	"github.com/berthd/berth/pkg/errdefs"
)

// Legacy links (--link NAME[:ALIAS]). On the default bridge, as dockerd:
// at each start the linked container must run on the bridge, and the
// linking one gets "ADDR ALIAS HOSTNAME NAME" in its /etc/hosts and the
// ALIAS_PORT..., ALIAS_NAME and ALIAS_ENV_... variables. On a user network
// a link is only a name the linking container resolves (the network
// manager's part).

// link is one parsed --link.
type link struct{ name, alias string }

func parseLink(s string) (link, error) {
	name, alias, _ := strings.Cut(s, ":")
	name = strings.TrimPrefix(name, "/")
	if alias == "" {
		alias = name
	}
	if name == "" || strings.Contains(alias, ":") {
		return link{}, &msgError{msg: fmt.Sprintf("invalid link format: %q", s), class: errdefs.ErrInvalidArgument}
	}
	return link{name: name, alias: strings.TrimPrefix(alias, "/")}, nil
}

const linksUndefined = " can't be used with links. This would result in undefined behavior"

// checkLinks refuses at create what dockerd refuses: links of a container
// that has no network of its own, or to a container that does not exist
// or is on the host's network.
func (d *Daemon) checkLinks(hc *container.HostConfig) error {
	if len(hc.Links) == 0 {
		return nil
	}
	switch mode := hc.NetworkMode; {
	case mode.IsHost():
		return &msgError{msg: "conflicting options: host type networking" + linksUndefined, class: errdefs.ErrInvalidArgument}
	case mode.IsContainer():
		return &msgError{msg: "conflicting options: container type network" + linksUndefined, class: errdefs.ErrInvalidArgument}
	case mode.IsNone():
		return &msgError{msg: "conflicting options: links need a network, and --network none has none", class: errdefs.ErrInvalidArgument}
	}
	for _, s := range hc.Links {
		l, err := parseLink(s)
		if err != nil {
			return err
		}
		child, err := d.Get(l.name)
		if err != nil {
			// 400, not 404: the docker CLI takes a 404 at create for a
			// missing image.
			return &msgError{msg: fmt.Sprintf("could not get container for %s: %v", l.name, err), class: errdefs.ErrInvalidArgument}
		}
		child.mu.Lock()
		host := child.HostConfig != nil && child.HostConfig.NetworkMode.IsHost()
		child.mu.Unlock()
		if host {
			return &msgError{msg: "conflicting options: host type networking" + linksUndefined, class: errdefs.ErrInvalidArgument}
		}
	}
	return nil
}

// defaultBridge says whether the network mode is the default bridge,
// where links are dockerd's legacy links.
func defaultBridge(hc *container.HostConfig) bool {
	m := hc.NetworkMode
	return m == "" || m.IsDefault() || m == enet.NameBridge
}

// linkedChild is a running container a link points at, with what the
// linking container learns of it.
type linkedChild struct {
	link
	addrs    []netip.Addr // on the default bridge: IPv4, then IPv6
	hostname string
	name     string // without "/"
	env      []string
	ports    network.PortSet
}

// resolveLinks finds the children of c's links on the default bridge;
// each must be running there.
func (d *Daemon) resolveLinks(c *Container) ([]linkedChild, error) {
	c.mu.Lock()
	hc := c.HostConfig
	parent := c.Name
	c.mu.Unlock()
	if d.net == nil || hc == nil || len(hc.Links) == 0 || !defaultBridge(hc) {
		return nil, nil
	}
	var out []linkedChild
	for _, s := range hc.Links {
		l, err := parseLink(s)
		if err != nil {
			return nil, err
		}
		child, err := d.Get(l.name)
		if err != nil {
			return nil, &msgError{msg: fmt.Sprintf("could not get container for %s: %v", l.name, err), class: errdefs.ErrInvalidArgument}
		}
		child.mu.Lock()
		running, name := child.State.Running, child.Name
		lc := linkedChild{link: l, name: strings.TrimPrefix(name, "/")}
		if child.Config != nil {
			lc.hostname, lc.env, lc.ports = child.Config.Hostname, child.Config.Env, child.Config.ExposedPorts
		}
		child.mu.Unlock()
		if !running {
			return nil, &msgError{msg: fmt.Sprintf("Cannot link to a non running container: %s AS %s/%s", name, parent, l.alias), class: errdefs.ErrInvalidArgument}
		}
		if info, ok := d.net.Info(child.ID); ok {
			for _, ep := range info.Endpoints {
				if ep.Network.Name == enet.NameBridge && ep.Addr.IsValid() {
					lc.addrs = append(lc.addrs, ep.Addr)
					if ep.Addr6.IsValid() {
						lc.addrs = append(lc.addrs, ep.Addr6)
					}
				}
			}
		}
		if len(lc.addrs) == 0 {
			return nil, &msgError{msg: fmt.Sprintf("Cannot link to %s, as it does not belong to the default network", name), class: errdefs.ErrInvalidArgument}
		}
		out = append(out, lc)
	}
	return out, nil
}

// linkEnv is the environment a link gives, in dockerd's names: for the
// lowest exposed port ALIAS_PORT, for each ALIAS_PORT_P_PROTO with _ADDR,
// _PORT and _PROTO (and _START/_END for runs of consecutive ports),
// ALIAS_NAME=/PARENT/ALIAS and ALIAS_ENV_X for the child's variables but
// HOME and PATH.
func linkEnv(parent string, lc linkedChild) []string {
	alias := strings.ReplaceAll(strings.ToUpper(lc.alias), "-", "_")
	ip := lc.addrs[0].String()
	ports := make([]network.Port, 0, len(lc.ports))
	for p := range lc.ports {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool {
		if ports[i].Num() != ports[j].Num() {
			return ports[i].Num() < ports[j].Num()
		}
		return ports[i].Proto() < ports[j].Proto()
	})
	var env []string
	add := func(format string, args ...any) { env = append(env, fmt.Sprintf(format, args...)) }
	key := func(p network.Port) string {
		return alias + "_PORT_" + strconv.Itoa(int(p.Num())) + "_" + strings.ToUpper(string(p.Proto()))
	}
	if len(ports) > 0 {
		add("%s_PORT=%s://%s:%d", alias, ports[0].Proto(), ip, ports[0].Num())
	}
	// Runs of consecutive ports of one protocol also get their bounds.
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1].Proto() == ports[i].Proto() && ports[j+1].Num() == ports[j].Num()+1 {
			j++
		}
		if j > i {
			p, q, k := ports[i], ports[j], key(ports[i])
			add("%s_START=%s://%s:%d", k, p.Proto(), ip, p.Num())
			add("%s_ADDR=%s", k, ip)
			add("%s_PROTO=%s", k, p.Proto())
			add("%s_PORT_START=%d", k, p.Num())
			add("%s_END=%s://%s:%d", k, q.Proto(), ip, q.Num())
			add("%s_PORT_END=%d", k, q.Num())
		}
		i = j + 1
	}
	for _, p := range ports {
		k := key(p)
		add("%s=%s://%s:%d", k, p.Proto(), ip, p.Num())
		add("%s_ADDR=%s", k, ip)
		add("%s_PORT=%d", k, p.Num())
		add("%s_PROTO=%s", k, p.Proto())
	}
	add("%s_NAME=%s/%s", alias, parent, lc.alias)
	for _, kv := range lc.env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "HOME" && k != "PATH" {
			add("%s_ENV_%s=%s", alias, k, v)
		}
	}
	return env
}

// netStartFiles runs at each start of a container with networking of its
// own, once its addresses are known: /etc/hosts gets the hostname on each
// address and the links' entries, and the spec the links' variables.
func (d *Daemon) netStartFiles(ctx context.Context, c *Container) error {
	if d.net == nil {
		return nil
	}
	info, ok := d.net.Info(c.ID)
	if !ok || !info.Running {
		return nil
	}
	children, err := d.resolveLinks(c)
	if err != nil {
		return err
	}
	var own []hostsEntry
	for _, lc := range children {
		names := lc.alias + " " + lc.hostname
		if lc.name != lc.alias {
			names += " " + lc.name
		}
		for _, a := range lc.addrs {
			own = append(own, hostsEntry{addr: a, names: strings.TrimSpace(names)})
		}
	}
	for _, ep := range info.Endpoints {
		for _, a := range []netip.Addr{ep.Addr, ep.Addr6} {
			if a.IsValid() {
				own = append(own, hostsEntry{addr: a})
			}
		}
	}
	c.mu.Lock()
	cfg, hc, parent := c.Config, c.HostConfig, c.Name
	c.mu.Unlock()
	// Written again at each start, in place: nothing runs in the container
	// yet to read it half written, and a crash before the start leaves it
	// to the next start's write. A rename over the old file (atomicfile)
	// cost 0.7 ms here, the filesystem writing the new one out at once.
	if err := writeHosts(c, cfg.Hostname, cfg.Domainname, d.etcHostConfig(hc), own, os.WriteFile); err != nil {
		return err
	}
	// Made again when it was missing: a remapped root must own it.
	if err := d.chownToRemappedRoot(hc, c.HostsPath); err != nil {
		return err
	}
	var env []string
	for _, lc := range children {
		env = append(env, linkEnv(parent, lc)...)
	}
	if len(hc.Links) == 0 || !defaultBridge(hc) {
		return nil
	}
	return d.setLinkEnv(ctx, c, env)
}

// setLinkEnv stores the spec with the link variables before the
// container's own (which win: a variable the container sets is not
// added), when they changed since the last start.
func (d *Daemon) setLinkEnv(ctx context.Context, c *Container, linkVars []string) error {
	c.mu.Lock()
	own := c.Config.Env
	c.mu.Unlock()
	set := map[string]bool{}
	for _, kv := range own {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var env []string
	for _, kv := range linkVars {
		if k, _, _ := strings.Cut(kv, "="); !set[k] {
			env = append(env, kv)
		}
	}
	env = append(env, own...)
	err := d.editSpec(ctx, c, func(s *specs.Spec) (bool, error) {
		if s.Process == nil || slices.Equal(s.Process.Env, env) {
			return false, nil
		}
		s.Process.Env = env
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("links: %w", err)
	}
	return nil
}

// withImagePorts is cfg with the image's exposed ports added (cfg itself
// when the image exposes none).
func withImagePorts(cfg *container.Config, image map[string]struct{}) *container.Config {
	if len(image) == 0 {
		return cfg
	}
	out := *cfg
	out.ExposedPorts = network.PortSet{}
	for p := range cfg.ExposedPorts {
		out.ExposedPorts[p] = struct{}{}
	}
	for s := range image {
		if p, err := network.ParsePort(s); err == nil {
			out.ExposedPorts[p] = struct{}{}
		}
	}
	return &out
}

// RemoveLink removes the link name ("/PARENT/ALIAS", as `rm --link` names
// it) from its parent's --link list. Links are resolved at each start, so
// the parent's next start goes without it; a running parent keeps the
// /etc/hosts line and variables it started with. A bare container name is
// refused: `rm --link` must never remove the container it names.
func (d *Daemon) RemoveLink(name string) error {
	name = "/" + strings.Trim(name, "/")
	parentName, alias, _ := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	if alias == "" {
		return &msgError{msg: fmt.Sprintf("cannot remove %s with --link: it is a container's own name, not a link (/PARENT/ALIAS)", name), class: errdefs.ErrConflict}
	}
	if strings.Contains(alias, "/") {
		return &msgError{msg: fmt.Sprintf("invalid link name %s: want /PARENT/ALIAS", name), class: errdefs.ErrInvalidArgument}
	}
	parent, err := d.Get(parentName)
	if err != nil {
		return err
	}
	parent.mu.Lock()
	defer parent.mu.Unlock()
	hc := parent.HostConfig
	if hc == nil {
		return &msgError{msg: fmt.Sprintf("No such link: %s", name), class: errdefs.ErrNotFound}
	}
	i := slices.IndexFunc(hc.Links, func(s string) bool {
		l, err := parseLink(s)
		return err == nil && (l.alias == alias || l.alias == parentName+"/"+alias)
	})
	if i < 0 {
		return &msgError{msg: fmt.Sprintf("No such link: %s", name), class: errdefs.ErrNotFound}
	}
	old := hc.Links
	hc.Links = slices.Delete(slices.Clone(old), i, i+1)
	if err := parent.saveLocked(); err != nil {
		hc.Links = old
		return fmt.Errorf("remove link %s: persist: %w", name, err)
	}
	return nil
}
