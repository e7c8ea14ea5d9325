package supervisor

import (
	"encoding/json"
	"fmt"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rootfsIDMap returns the mappings the container's rootfs is mounted
// through: those of the new user namespace its spec asks for, so that its
// root owns the image's files (which stay owned by 0 on disk, shared with
// every other container). None for a container in the host's user
// namespace or one that joins an existing namespace (whose mappings the
// spec does not give).
func rootfsIDMap(rawSpec []byte) (uids, gids []snapshots.IDMap, err error) {
	var s struct {
		Linux *struct {
			Namespaces  []specs.LinuxNamespace `json:"namespaces"`
			UIDMappings []specs.LinuxIDMapping `json:"uidMappings"`
			GIDMappings []specs.LinuxIDMapping `json:"gidMappings"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(rawSpec, &s); err != nil {
		return nil, nil, fmt.Errorf("container spec: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if s.Linux == nil {
		return nil, nil, nil
	}
	newUserNS := false
	for _, ns := range s.Linux.Namespaces {
		newUserNS = newUserNS || ns.Type == specs.UserNamespace && ns.Path == ""
	}
	if !newUserNS || len(s.Linux.UIDMappings) == 0 {
		return nil, nil, nil
	}
	conv := func(ms []specs.LinuxIDMapping) []snapshots.IDMap {
		out := make([]snapshots.IDMap, len(ms))
		for i, m := range ms {
			out[i] = snapshots.IDMap{Container: m.ContainerID, Host: m.HostID, Size: m.Size}
		}
		return out
	}
	return conv(s.Linux.UIDMappings), conv(s.Linux.GIDMappings), nil
}
