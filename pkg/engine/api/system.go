package api

import (
	"bufio"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/engine/containers"
)

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("API-Version", DefaultVersion)
	h.Set("Docker-Experimental", "false")
	h.Set("OSType", "linux")
	h.Set("Builder-Version", "1")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("OK"))
	}
}

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	comps := []system.ComponentVersion{{Name: "Engine", Version: s.cfg.Version, Details: map[string]string{
		"ApiVersion": DefaultVersion, "MinAPIVersion": MinVersion, "GitCommit": s.cfg.Commit,
		"GoVersion": runtime.Version(), "Os": runtime.GOOS, "Arch": runtime.GOARCH, "KernelVersion": kernelVersion(),
	}}}
	if v, err := s.d.Supervisor().Version(r.Context()); err == nil {
		comps = append(comps, system.ComponentVersion{Name: "supervisord", Version: v.GetVersion(), Details: map[string]string{"GitCommit": v.GetRevision()}})
	}
	writeJSON(w, http.StatusOK, system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "Berth Engine"},
		Components:    comps,
		Version:       s.cfg.Version,
		APIVersion:    DefaultVersion,
		MinAPIVersion: MinVersion,
		GitCommit:     s.cfg.Commit,
		GoVersion:     runtime.Version(),
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		KernelVersion: kernelVersion(),
	})
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func osName() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func cgroupVersion() string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "2"
	}
	return "1"
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	total, running, paused, stopped := s.d.Counts()
	info := system.Info{
		Containers: total, ContainersRunning: running, ContainersPaused: paused, ContainersStopped: stopped,
		Driver:          "overlayfs",
		LoggingDriver:   "json-file",
		CgroupDriver:    "cgroupfs",
		CgroupVersion:   cgroupVersion(),
		KernelVersion:   kernelVersion(),
		OperatingSystem: osName(),
		OSType:          "linux",
		Architecture:    runtimeArch(),
		NCPU:            runtime.NumCPU(),
		MemTotal:        memTotal(),
		DockerRootDir:   s.cfg.DataRoot,
		ServerVersion:   s.cfg.Version,
		NGoroutines:     runtime.NumGoroutine(),
		SystemTime:      time.Now().Format(time.RFC3339Nano),
		Runtimes:        map[string]system.RuntimeWithStatus{},
		SecurityOptions: []string{"name=seccomp,profile=builtin"},
		Warnings:        []string{"WARNING: networking is not implemented yet: containers have loopback only"},
	}
	info.Plugins.Log = containers.LogDrivers()
	info.Name, _ = os.Hostname()
	info.Swarm.LocalNodeState = swarm.LocalNodeStateInactive
	if imgs, err := s.d.Supervisor().ListImages(r.Context()); err == nil {
		info.Images = len(groupImages(imgs))
	}
	if srv, err := s.d.Supervisor().Server(r.Context()); err == nil {
		info.ID = srv.GetUuid()
		info.DefaultRuntime = srv.GetDefaultRuntime()
		for _, rt := range srv.GetRuntimes() {
			info.Runtimes[rt.GetName()] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: rt.GetPath(), Args: rt.GetArgs()}}
		}
		if srv.GetSnapshotter() != "" {
			info.Driver = srv.GetSnapshotter()
		}
	} else {
		info.Warnings = append(info.Warnings, "WARNING: supervisor unavailable: "+err.Error())
	}
	writeJSON(w, http.StatusOK, info)
}

// runtimeArch is uname's machine name, as docker reports it.
func runtimeArch() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}
