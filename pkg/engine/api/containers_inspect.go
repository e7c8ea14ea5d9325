package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"

	"github.com/berthd/berth/pkg/engine/containers"
)

// inspectResponse is GET /containers/{id}/json in API 1.51's shape: the
// NetworkSettings of that version (with the top-level fields of the
// default network that 1.52 dropped, which docker CLI templates read).
type inspectResponse struct {
	container.InspectResponse
	NetworkSettings *networkSettings
}

// networkSettings is API 1.51's NetworkSettings: the container's networks
// and published ports, with the top-level fields of its endpoint on the
// default bridge (empty on other networks, as dockerd's).
type networkSettings struct {
	Bridge                 string
	SandboxID              string
	SandboxKey             string
	Ports                  network.PortMap
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []ipAddress
	SecondaryIPv6Addresses []ipAddress
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
	Networks               map[string]*network.EndpointSettings
}

// ipAddress is API 1.51's network.Address.
type ipAddress struct {
	Addr      string
	PrefixLen int
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.d.Inspect(ctx, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	cfg := *c.Config
	cfg.Image = c.ImageName
	driver := s.storageDriver(ctx)
	resp := inspectResponse{InspectResponse: container.InspectResponse{
		ID: c.ID, Created: containers.FormatTime(c.Created), Path: c.Path, Args: c.Args,
		State: &container.State{
			Status: c.State.Status, Running: c.State.Running, Paused: c.State.Paused, Restarting: c.State.Restarting,
			Pid: c.State.Pid, ExitCode: c.State.ExitCode,
			OOMKilled: c.State.OOMKilled, Error: c.State.Error, Dead: c.State.Status == container.StateDead,
			StartedAt: containers.FormatTime(c.State.StartedAt), FinishedAt: containers.FormatTime(c.State.FinishedAt),
			Health: healthOf(c),
		},
		Image: c.ImageID, ResolvConfPath: c.ResolvConfPath, HostnamePath: c.HostnamePath, HostsPath: c.HostsPath,
		LogPath: c.LogPath, Name: c.Name, Driver: driver, Platform: "linux",
		// No SELinux labels and no AppArmor profile are applied to
		// containers (pkg/engine/oci sets none): empty, as dockerd shows
		// on a host without them.
		MountLabel: "", ProcessLabel: "", AppArmorProfile: "",
		HostConfig: c.HostConfig, Config: &cfg, Mounts: mountPoints(c), ExecIDs: c.ExecIDs(),
		RestartCount: c.RestartCount,
		GraphDriver:  &storage.DriverData{Name: driver, Data: s.graphDriverData(ctx, c.ID)},
	}, NetworkSettings: s.networkSettings(c)}
	if resp.HostConfig == nil {
		resp.HostConfig = &container.HostConfig{}
	}
	if resp.HostConfig.LogConfig.Type == "" {
		// The shim writes json-file logs; clients (docker-py's run) read
		// logs only when they see it.
		hc := *resp.HostConfig
		hc.LogConfig.Type = "json-file"
		resp.HostConfig = &hc
	}
	if boolParam(r, "size") {
		cs, err := s.newContainerSizes()
		if err != nil {
			writeError(w, err)
			return
		}
		rw, rootfs, err := cs.of(ctx, c)
		if err != nil {
			writeError(w, err)
			return
		}
		resp.SizeRw, resp.SizeRootFs = &rw, &rootfs
	}
	writeJSON(w, http.StatusOK, resp)
}

// graphDriverData is dockerd's overlay2 GraphDriver.Data (LowerDir,
// UpperDir, WorkDir) read from the mount options of the container's
// snapshot; nil when the supervisor cannot tell or the snapshot is not an
// overlay (the native snapshotter's bind mount). MergedDir is left out:
// the rootfs is mounted by the shim in its bundle, which the engine does
// not see.
func (s *Server) graphDriverData(ctx context.Context, id string) map[string]string {
	sm, ok := s.d.Supervisor().(containers.SnapshotMounter)
	if !ok {
		return nil
	}
	mounts, err := sm.SnapshotMounts(ctx, id)
	if err != nil {
		s.log.Debug("inspect: snapshot mounts", "id", id, "err", err)
		return nil
	}
	for _, m := range mounts {
		if m.GetType() != "overlay" {
			continue
		}
		data := map[string]string{}
		var lower []string
		for _, o := range m.GetOptions() {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "lowerdir":
				lower = append(lower, strings.Split(v, ":")...)
			case "lowerdir+":
				lower = append(lower, v)
			case "upperdir":
				data["UpperDir"] = v
			case "workdir":
				data["WorkDir"] = v
			}
		}
		if len(lower) > 0 {
			data["LowerDir"] = strings.Join(lower, ":")
		}
		return data
	}
	return nil
}
