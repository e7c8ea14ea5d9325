package api

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/system"
)

// binaryVersion runs `path --version` (a runtime or the init) and reads
// its version (the word after "version" on the first line) and commit as
// dockerd does: runc's "commit: X" line, tini's "- git.X" suffix.
//
// The answer is kept per path until the file changes: running two
// binaries made every `docker version` and `docker info` cost ~30 ms.
func binaryVersion(ctx context.Context, path string) (version, commit string) {
	if path == "" {
		return "", ""
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", ""
	}
	key := binaryKey{path, fi.ModTime(), fi.Size()}
	versionCache.Lock()
	v, ok := versionCache.m[key]
	versionCache.Unlock()
	if ok {
		return v[0], v[1]
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", ""
	}
	version, commit = parseVersion(string(out))
	versionCache.Lock()
	versionCache.m[key] = [2]string{version, commit}
	versionCache.Unlock()
	return version, commit
}

type binaryKey struct {
	path string
	mod  time.Time
	size int64
}

var versionCache = struct {
	sync.Mutex
	m map[binaryKey][2]string
}{m: map[binaryKey][2]string{}}

func parseVersion(out string) (version, commit string) {
	first, _, _ := strings.Cut(out, "\n")
	if _, v, ok := strings.Cut(first, "version "); ok {
		if f := strings.Fields(v); len(f) > 0 {
			version = f[0]
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "commit: "); ok {
			return version, strings.TrimSpace(v)
		}
	}
	if _, git, ok := strings.Cut(first, " - git."); ok {
		return version, strings.TrimSpace(git)
	}
	return version, version
}

// binaryComponents are /version's components for the default runtime and
// the docker-init, as dockerd lists runc and docker-init.
func (s *Server) binaryComponents(ctx context.Context) []system.ComponentVersion {
	var out []system.ComponentVersion
	if srv, err := s.d.Supervisor().Server(ctx); err == nil {
		for _, rt := range srv.GetRuntimes() {
			if rt.GetName() != srv.GetDefaultRuntime() {
				continue
			}
			if v, c := binaryVersion(ctx, rt.GetPath()); v != "" {
				out = append(out, system.ComponentVersion{Name: rt.GetName(), Version: v, Details: map[string]string{"GitCommit": c}})
			}
		}
	}
	if p := s.d.InitBinary(); p != "" {
		if v, c := binaryVersion(ctx, p); v != "" {
			out = append(out, system.ComponentVersion{Name: "docker-init", Version: v, Details: map[string]string{"GitCommit": c}})
		}
	}
	return out
}
