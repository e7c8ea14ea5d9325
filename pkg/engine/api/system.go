package api

import (
	"net/http"
	"runtime"

	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"
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
		"GoVersion": runtime.Version(), "Os": runtime.GOOS, "Arch": runtime.GOARCH, "KernelVersion": kernelVersion(), "Experimental": "false",
	}}}
	if v, err := s.d.Supervisor().Version(r.Context()); err == nil {
		comps = append(comps, system.ComponentVersion{Name: "supervisord", Version: v.GetVersion(), Details: map[string]string{"GitCommit": v.GetRevision()}})
	}
	comps = append(comps, s.binaryComponents(r.Context())...)
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
