package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/moby/moby/api/types/mount"

	"github.com/berthd/berth/pkg/engine/volume"
	"github.com/berthd/berth/pkg/errdefs"
)

// rroCache remembers, per runtime binary (path, size, mtime), whether its
// `features` lists the "rro" mount option.
var rroCache = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// runtimeHasRRO tells whether the container's runtime (the supervisor's
// default for "") makes recursive read-only mounts, from its `features`
// (as dockerd asks it): Debian's runc 1.1 does not, ours and crun do.
func (d *Daemon) runtimeHasRRO(name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv, err := d.sup.Server(ctx)
	if err != nil {
		return false
	}
	if name == "" {
		name = srv.GetDefaultRuntime()
	}
	path := ""
	for _, rt := range srv.GetRuntimes() {
		if rt.GetName() == name {
			path = rt.GetPath()
		}
	}
	fi, err := os.Stat(path)
	if path == "" || err != nil {
		return false
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
	rroCache.Lock()
	has, ok := rroCache.m[key]
	rroCache.Unlock()
	if ok {
		return has
	}
	out, err := exec.CommandContext(ctx, path, "features").Output()
	var f struct{ MountOptions []string }
	if err == nil && json.Unmarshal(out, &f) == nil {
		has = slices.Contains(f.MountOptions, "rro")
	}
	rroCache.Lock()
	rroCache.m[key] = has
	rroCache.Unlock()
	return has
}

// recursiveReadOnly decides, as dockerd does, whether the read-only
// binds and volumes get "rro": when the runtime makes it; without it
// they are read-only at their top only, and one that asked for it
// (bind-recursive=readonly, :rro) is refused.
func (d *Daemon) recursiveReadOnly(runtime string, mps []*volume.MountPoint) (bool, error) {
	var force, any bool
	for _, mp := range mps {
		if mp.Type == mount.TypeTmpfs || mp.RW || mp.ReadOnlyNonRecursive || mp.NonRecursive {
			continue
		}
		any = true
		force = force || mp.ReadOnlyForceRecursive
	}
	if !any {
		return false, nil
	}
	if d.runtimeHasRRO(runtime) {
		return true, nil
	}
	if force {
		rt := runtime
		if rt == "" {
			rt = "default"
		}
		return false, &msgError{msg: fmt.Sprintf("recursive read-only mounts (bind-recursive=readonly, rro) are not supported by the %s runtime", rt), class: errdefs.ErrInvalidArgument}
	}
	return false, nil
}
