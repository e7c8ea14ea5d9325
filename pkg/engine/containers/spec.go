package containers

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/errdefs"
)

// Option configures a Daemon.
type Option func(*Daemon)

// WithInit sets the host's docker-init binary (a static init such as
// tini-static, bind-mounted into containers run with --init) and whether
// every container gets it unless its request says otherwise (dockerd's
// --init). An empty path looks one up on the PATH.
func WithInit(path string, byDefault bool) Option {
	return func(d *Daemon) { d.initPath, d.initDefault = path, byDefault }
}

// FindInit looks for a docker-init on the PATH: docker's own name, then
// Debian's static tini. A dynamically linked init would not run in most
// images, so the plain tini is not taken.
func FindInit() string {
	for _, n := range []string{"docker-init", "tini-static"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// spec makes the container's OCI spec from the request; it fills in what
// the stored Config shows (hostname, domain name) and sets c's etc file
// paths for modes that share another container's files.
// netns is the namespace the engine holds for the container ("": none).
func (d *Daemon) spec(c *Container, cfg *container.Config, hc *container.HostConfig, img *ocispec.Image, acc oci.Accounts, mounts []specs.Mount, netns string) (*specs.Spec, error) {
	switch {
	case hc.NetworkMode.IsContainer():
		// As dockerd: the container takes its network peer's names and
		// shares its hosts, hostname and resolv.conf files.
		p, err := d.Get(hc.NetworkMode.ConnectedContainer())
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		cfg.Hostname, cfg.Domainname = p.Config.Hostname, p.Config.Domainname
		c.HostnamePath, c.HostsPath, c.ResolvConfPath = p.HostnamePath, p.HostsPath, p.ResolvConfPath
		p.mu.Unlock()
	case hc.UTSMode.IsHost():
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("host name: %w", err)
		}
		cfg.Hostname = h
	default:
		cfg.Hostname = oci.Hostname(cfg, c.ID)
	}
	if hc.Init == nil && d.initDefault {
		t := true
		hc.Init = &t
	}
	initPath := d.initPath
	if initPath == "" {
		initPath = FindInit()
	}
	sys, err := d.system(d.ctx)
	if err != nil {
		return nil, err
	}
	opts := oci.Options{System: sys,
		ID: c.ID, Config: cfg, Host: hc, Image: img, InitPath: initPath,
		HostnamePath: c.HostnamePath, HostsPath: c.HostsPath, ResolvConfPath: c.ResolvConfPath,
		Peer: d.peer, Accounts: acc, Mounts: mounts, NetNSPath: netns,
		ShmPath: shmPath(c.dir, hc), SystemdCgroup: d.systemdCgroup,
	}
	if netns != "" {
		opts.NetNSSysctls = d.net.NetNSSysctls()
	}
	if d.remap != nil {
		opts.UIDMappings, opts.GIDMappings = d.remap.UIDs, d.remap.GIDs
	}
	s, err := oci.Spec(opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// peer resolves a container:NAME mode.
func (d *Daemon) peer(ref string) (*oci.Peer, error) {
	p, err := d.Get(ref)
	if err != nil {
		return nil, &msgError{msg: fmt.Sprintf("No such container: %s", ref), class: errdefs.ErrNotFound}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := &oci.Peer{ID: p.ID}
	if p.State.Running {
		out.Pid = p.State.Pid
	}
	if p.HostConfig != nil {
		out.IpcShareable = p.HostConfig.IpcMode.IsShareable()
		out.IpcHost = p.HostConfig.IpcMode.IsHost()
		out.ShmPath = shmPath(p.dir, p.HostConfig)
	}
	return out, nil
}
