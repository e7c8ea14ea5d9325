package api

import (
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/engine/volume"
)

// info is GET /info: what this engine, its supervisor and the host really
// are and do; anything berth does not have is empty (never dockerd's
// defaults for features we lack).
func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	total, running, paused, stopped := s.d.Counts()
	// The host's facts come from the supervisor: engined reads none of the
	// host's /proc or cgroup files. Unreachable, they stay empty (warned
	// below).
	host, hostErr := s.d.Supervisor().Host(ctx)
	cg := host.GetCgroups()
	info := system.Info{
		Containers: total, ContainersRunning: running, ContainersPaused: paused, ContainersStopped: stopped,
		Driver:        "overlayfs",
		DriverStatus:  [][2]string{},
		LoggingDriver: "json-file",
		CgroupDriver:  s.d.CgroupDriver(),
		CgroupVersion: host.GetCgroupVersion(),
		MemoryLimit:   cg.GetMemoryLimit(), SwapLimit: cg.GetSwapLimit(), CPUCfsPeriod: cg.GetCpuCfsPeriod(), CPUCfsQuota: cg.GetCpuCfsQuota(),
		CPUShares: cg.GetCpuShares(), CPUSet: cg.GetCpuset(), PidsLimit: cg.GetPidsLimit(), OomKillDisable: cg.GetOomKillDisable(),
		IPv4Forwarding:     readTrim("/proc/sys/net/ipv4/ip_forward") == "1",
		Debug:              s.log.Enabled(ctx, slog.LevelDebug),
		NFd:                openFDs(),
		NEventsListener:    s.d.EventListeners(),
		KernelVersion:      host.GetKernelVersion(),
		OperatingSystem:    host.GetOperatingSystem(),
		OSVersion:          host.GetOsVersion(),
		OSType:             "linux",
		Architecture:       host.GetArchitecture(),
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     registryConfig(),
		NCPU:               int(host.GetNcpu()),
		MemTotal:           host.GetMemTotal(),
		DockerRootDir:      s.cfg.DataRoot,
		HTTPProxy:          proxyEnv("HTTP_PROXY"),
		HTTPSProxy:         proxyEnv("HTTPS_PROXY"),
		NoProxy:            proxyEnv("NO_PROXY"),
		Labels:             []string{},
		ServerVersion:      s.cfg.Version,
		NGoroutines:        runtime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		Runtimes:           map[string]system.RuntimeWithStatus{},
		// Containers keep running while engined is down, and a new
		// engined takes them over: dockerd's live restore, always on.
		LiveRestoreEnabled: true,
		Isolation:          "",
		SecurityOptions:    securityOptions(s.cfg.Userns, containers.OCISystem(host)),
		// Local volumes, the log drivers engined applies; no network
		// plugins until networking lands.
		Plugins:     system.PluginsInfo{Volume: []string{volume.LocalDriver}, Network: []string{}, Log: containers.LogDrivers()},
		CDISpecDirs: []string{},
		Warnings:    []string{"WARNING: networking is not implemented yet: containers have loopback only"},
	}
	if p := s.d.InitBinary(); p != "" {
		info.InitBinary = filepath.Base(p)
		_, info.InitCommit.ID = binaryVersion(ctx, p)
	}
	info.Name, _ = os.Hostname()
	info.Swarm.LocalNodeState = swarm.LocalNodeStateInactive
	if hostErr != nil {
		info.Warnings = append(info.Warnings, "WARNING: host facts unavailable: "+hostErr.Error())
	} else if !cg.GetSwapLimit() && host.GetCgroupVersion() == "1" {
		info.Warnings = append(info.Warnings, "WARNING: No swap limit support")
	}
	if imgs, err := s.d.Supervisor().ListImages(ctx); err == nil {
		info.Images = len(groupImages(imgs))
	}
	if srv, err := s.d.Supervisor().Server(ctx); err == nil {
		info.ID = srv.GetUuid()
		info.DefaultRuntime = srv.GetDefaultRuntime()
		for _, rt := range srv.GetRuntimes() {
			info.Runtimes[rt.GetName()] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: rt.GetPath(), Args: rt.GetArgs()}}
			if rt.GetName() == srv.GetDefaultRuntime() {
				_, info.RuncCommit.ID = binaryVersion(ctx, rt.GetPath())
			}
		}
		if srv.GetSnapshotter() != "" {
			info.Driver = srv.GetSnapshotter()
		}
		if srv.GetRoot() != "" {
			info.DriverStatus = append(info.DriverStatus, [2]string{"Supervisor Root Dir", srv.GetRoot()})
		}
	} else {
		info.Warnings = append(info.Warnings, "WARNING: supervisor unavailable: "+err.Error())
	}
	if v, err := s.d.Supervisor().Version(ctx); err == nil {
		// supervisord holds containerd's place in the stack.
		info.ContainerdCommit = system.Commit{ID: v.GetRevision()}
	}
	writeJSON(w, http.StatusOK, info)
}

// securityOptions lists what the spec generation really applies to a
// default container, read from the spec it makes for one.
func securityOptions(userns bool, sys oci.System) []string {
	spec, err := oci.Spec(oci.Options{ID: strings.Repeat("0", 64), Config: &container.Config{Cmd: []string{"sh"}}, Host: &container.HostConfig{}, System: sys})
	if err != nil || spec.Linux == nil {
		return []string{}
	}
	opts := []string{}
	if spec.Linux.Seccomp != nil {
		opts = append(opts, "name=seccomp,profile=builtin")
	}
	if spec.Process != nil && spec.Process.ApparmorProfile != "" {
		opts = append(opts, "name=apparmor")
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.CgroupNamespace {
			opts = append(opts, "name=cgroupns")
		}
	}
	if userns {
		opts = append(opts, "name=userns")
	}
	return opts
}

// registryConfig: Docker Hub is the default registry, reached over TLS;
// localhost, 127.0.0.1 and ::1 may be reached over plain HTTP
// (pkg/distribution). Registries made insecure or mirrored in
// supervisord's own configuration are not known here.
func registryConfig() *registry.ServiceConfig {
	return &registry.ServiceConfig{
		InsecureRegistryCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
		IndexConfigs: map[string]*registry.IndexInfo{
			"docker.io": {Name: "docker.io", Mirrors: []string{}, Secure: true, Official: true},
			"localhost": {Name: "localhost", Mirrors: []string{}, Secure: false, Official: false},
		},
		Mirrors: []string{},
	}
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// proxyEnv is the proxy setting engined runs with (upper or lower case),
// with its credentials masked as dockerd does.
func proxyEnv(key string) string {
	v := os.Getenv(key)
	if v == "" {
		v = os.Getenv(strings.ToLower(key))
	}
	if i := strings.Index(v, "://"); i >= 0 {
		if at := strings.LastIndex(v, "@"); at > i {
			if user, _, ok := strings.Cut(v[i+3:at], ":"); ok {
				v = v[:i+3] + user + ":xxxxx" + v[at:]
			}
		}
	}
	return v
}
