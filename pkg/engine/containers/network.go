package containers

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/atomicfile"
	enet "github.com/berthd/berth/pkg/engine/network"
	"github.com/berthd/berth/pkg/engine/network/dns"
	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/trace"
)

// WithNetwork gives the daemon its network manager: containers on the
// default bridge and on user networks get a namespace, addresses and
// published ports from it. Without one (unit tests), such containers have
// a namespace of their own with loopback only.
func WithNetwork(m *enet.Manager) Option {
	return func(d *Daemon) { d.net = m }
}

// Network returns the network manager (nil without one).
func (d *Daemon) Network() *enet.Manager { return d.net }

// netPrepare checks and records a new container's networking; it returns
// the path of the namespace the engine will hold for it ("" when the
// runtime makes or joins one itself), and saved, which waits for the
// network record to be on disk (see network.Manager.Prepare).
func (d *Daemon) netPrepare(id, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (string, func() error, error) {
	none := func() error { return nil }
	if d.net == nil {
		return "", none, nil
	}
	managed, saved, err := d.net.Prepare(id, name, cfg, hc, nc)
	if err != nil || !managed {
		return "", none, err
	}
	return d.net.NetNSPath(id), saved, nil
}

// etcHostConfig is hc with --add-host NAME:host-gateway resolved to the
// default bridge's gateway, as dockerd writes /etc/hosts (the stored
// HostConfig keeps "host-gateway").
func (d *Daemon) etcHostConfig(hc *container.HostConfig) *container.HostConfig {
	if d.net == nil || len(hc.ExtraHosts) == 0 {
		return hc
	}
	out := *hc
	out.ExtraHosts = make([]string, len(hc.ExtraHosts))
	for i, h := range hc.ExtraHosts {
		if name, addr, ok := strings.Cut(h, ":"); ok && addr == "host-gateway" {
			h = name + ":" + d.net.HostGateway().String()
		}
		out.ExtraHosts[i] = h
	}
	return &out
}

// netUp attaches c's networking and writes its /etc/hosts. The namespace
// is in place when it returns. The rest (addresses, veths, published
// ports, hosts: 2 ms here) goes on beside the task's create, which needs
// only the namespace, unless legacy links put variables in the spec; done,
// when not nil, tells when it is over. A failure undoes the attach.
func (d *Daemon) netUp(ctx context.Context, c *Container) (done <-chan error, err error) {
	if d.net == nil {
		return nil, nil
	}
	c.mu.Lock()
	cfg, hc := c.Config, c.HostConfig
	c.mu.Unlock()
	up := func(nsReady func()) error {
		if err := d.net.AttachNotify(c.ID, nsReady); err != nil {
			return err
		}
		d.emitEndpoints(c.ID, "connect")
		if err := d.netStartFiles(ctx, c); err != nil {
			d.netDetach(c)
			return err
		}
		return nil
	}
	if !enet.Managed(cfg, hc) || len(hc.Links) > 0 {
		return nil, up(nil)
	}
	nsReady := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		defer trace.Begin(ctx, "network (beside the task create)")()
		res <- up(func() { close(nsReady) })
	}()
	select {
	case <-nsReady:
		return res, nil
	case err := <-res: // over before the namespace was there: failed, or nothing to attach
		return nil, err
	}
}

func (d *Daemon) netDetach(c *Container) {
	if d.net != nil {
		d.emitEndpoints(c.ID, "disconnect")
		d.net.Detach(c.ID)
	}
}

// netDetachGone is netDetach for a container removed at its exit (--rm):
// its veths and namespace are deleted in the background
// (network.Manager.DetachGone).
func (d *Daemon) netDetachGone(c *Container) {
	if d.net != nil {
		d.emitEndpoints(c.ID, "disconnect")
		d.net.DetachGone(c.ID)
	}
}

// emitEndpoints sends a network event for each network the container is
// attached to, as dockerd does at start (connect) and stop (disconnect).
func (d *Daemon) emitEndpoints(id, action string) {
	info, ok := d.net.Info(id)
	if !ok {
		return
	}
	for _, ep := range info.Endpoints {
		if ep.Addr.IsValid() {
			d.EmitNetwork(ep.Network, action, id)
		}
	}
}

// EmitNetwork records a network event (create, destroy, connect,
// disconnect) as dockerd shapes it.
func (d *Daemon) EmitNetwork(n enet.Network, action, containerID string) {
	now := time.Now()
	attrs := map[string]string{"name": n.Name, "type": n.Driver}
	if containerID != "" {
		attrs["container"] = containerID
	}
	d.events.publish(events.Message{
		Type: events.NetworkEventType, Action: events.Action(action), Scope: "local",
		Actor: events.Actor{ID: n.ID, Attributes: attrs},
		Time:  now.Unix(), TimeNano: now.UnixNano(),
	})
}

func (d *Daemon) netForget(id string) {
	if d.net != nil {
		d.net.Forget(id)
	}
}

// netReconcile runs at start, before containers are restored: what a
// container that is not recorded running holds goes; restore detaches
// those found exited meanwhile.
func (d *Daemon) netReconcile() {
	if d.net == nil {
		return
	}
	exists := func(id string) bool { _, ok := d.containers[id]; return ok }
	running := func(id string) bool {
		c, ok := d.containers[id]
		if !ok {
			return false
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.State.Running
	}
	if err := d.net.Reconcile(exists, running); err != nil {
		d.log.Warn("reconcile networking", "err", err)
	}
}

// NetworkConnect connects a container to a network (docker network
// connect); the endpoint settings are checked as at create.
func (d *Daemon) NetworkConnect(netRef, ref string, es *network.EndpointSettings) error {
	if d.net == nil {
		return &msgError{msg: "networking is not enabled in this engine", class: errdefs.ErrNotImplemented}
	}
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	if es != nil {
		nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netRef: es}}
		if err := oci.Check(&container.Config{}, &container.HostConfig{}, nc); err != nil {
			return err
		}
	}
	if err := d.net.Connect(netRef, c.ID, es); err != nil {
		return err
	}
	if n, err := d.net.Get(netRef); err == nil {
		d.EmitNetwork(n, "connect", c.ID)
	}
	return nil
}

// NetworkDisconnect disconnects a container from a network.
func (d *Daemon) NetworkDisconnect(netRef, ref string, force bool) error {
	if d.net == nil {
		return &msgError{msg: "networking is not enabled in this engine", class: errdefs.ErrNotImplemented}
	}
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	n, err := d.net.Get(netRef)
	if err != nil {
		return err
	}
	if err := d.net.Disconnect(netRef, c.ID); err != nil {
		return err
	}
	d.EmitNetwork(n, "disconnect", c.ID)
	return nil
}

// netResolvConf points a container on a user network at the embedded DNS
// server, as dockerd does: nameserver 127.0.0.11 and ndots:0, keeping the
// search domains and options; the resolvers the file had (the host's, or
// --dns) are where the server forwards other names.
func (d *Daemon) netResolvConf(c *Container) error {
	if d.net == nil || !d.net.EmbeddedDNS(c.ID) {
		return nil
	}
	b, err := os.ReadFile(c.ResolvConfPath)
	if err != nil {
		return err
	}
	var out []string
	ndots := false
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "nameserver":
			continue
		case len(f) > 0 && f[0] == "options":
			for _, o := range f[1:] {
				ndots = ndots || strings.HasPrefix(o, "ndots:")
			}
			if !ndots {
				line += " ndots:0"
				ndots = true
			}
		}
		out = append(out, line)
	}
	out = append(out, "nameserver "+dns.Address)
	if !ndots {
		out = append(out, "options ndots:0")
	}
	return atomicfile.Replace(c.ResolvConfPath, []byte(strings.Join(out, "\n")+"\n"), 0o644)
}
