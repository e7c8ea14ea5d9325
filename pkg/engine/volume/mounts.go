package volume

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berthd/berth/pkg/errdefs"
)

// MountPoint is one mount of a container: what inspect shows (Docker's
// MountPoint) and what the engine needs to make it.
type MountPoint struct {
	container.MountPoint
	// Anonymous volumes go with the container (rm -v, run --rm).
	Anonymous bool `json:",omitempty"`
	// CopyData: copy the image's content at the destination into the
	// volume while it is empty (not nocopy).
	CopyData bool `json:",omitempty"`
	// Subpath of a volume to mount instead of its root.
	Subpath string `json:",omitempty"`
	// NonRecursive bind (bind-recursive=disabled).
	NonRecursive bool `json:",omitempty"`
	// A read-only bind or volume is read-only with its submounts too
	// (dockerd's default since API 1.44) unless ReadOnlyNonRecursive
	// (bind-recursive=writable, -v :ro-non-recursive);
	// ReadOnlyForceRecursive (bind-recursive=readonly, :rro) asks for it
	// explicitly.
	ReadOnlyNonRecursive   bool `json:",omitempty"`
	ReadOnlyForceRecursive bool `json:",omitempty"`
	// TmpfsOption marks a mount of HostConfig.Tmpfs (--tmpfs): mounted,
	// but not one of inspect's Mounts, as in dockerd.
	TmpfsOption bool `json:",omitempty"`
	// TmpfsData are the tmpfs mount data (size, mode, ...).
	TmpfsData []string `json:",omitempty"`
	// Volume creation settings (--mount volume-driver/volume-opt/volume-label).
	VolumeOptions map[string]string `json:",omitempty"`
	VolumeLabels  map[string]string `json:",omitempty"`
	// CreateSource: the bind source is made when missing (-v does that,
	// --mount does not).
	CreateSource bool `json:"-"`
}

// Listed tells whether the mount is one of inspect's (and the container
// list's) Mounts: all but --tmpfs ones, as dockerd shows them.
func (mp *MountPoint) Listed() bool { return !mp.TmpfsOption }

// invalidf is a bad request worded as dockerd words it.
func invalidf(format string, args ...any) error {
	return errdefs.Classf(errdefs.ErrInvalidArgument, format, args...)
}

var propagations = map[string]mount.Propagation{
	"shared": mount.PropagationShared, "rshared": mount.PropagationRShared,
	"slave": mount.PropagationSlave, "rslave": mount.PropagationRSlave,
	"private": mount.PropagationPrivate, "rprivate": mount.PropagationRPrivate,
}

// ParseBind reads one -v value: SRC:DST[:MODE] (SRC a host path or a
// volume name) with dockerd's rules and messages.
func ParseBind(spec string) (*MountPoint, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		if len(parts) == 1 && path.IsAbs(parts[0]) {
			// "-v /path" belongs in Config.Volumes; dockerd says the same.
			return nil, invalidf("invalid volume specification: '%s': invalid mount config for type \"volume\": field Source must not be empty... use Config.Volumes for an anonymous volume", spec)
		}
		return nil, invalidf("invalid volume specification: '%s'", spec)
	}
	src, dst := parts[0], parts[1]
	mode := ""
	if len(parts) == 3 {
		mode = parts[2]
	}
	mp := &MountPoint{MountPoint: container.MountPoint{Destination: dst, RW: true, Mode: mode}}
	if path.IsAbs(src) {
		mp.Type, mp.Source, mp.CreateSource = mount.TypeBind, filepath.Clean(src), true
		mp.Propagation = mount.PropagationRPrivate
	} else {
		if !nameRE.MatchString(src) {
			return nil, invalidf("create %s: volume name is too short, names should be at least two alphanumeric characters", src)
		}
		mp.Type, mp.Name, mp.Driver, mp.CopyData = mount.TypeVolume, src, LocalDriver, true
	}
	if err := checkDestination(spec, dst); err != nil {
		return nil, err
	}
	if !oneOfEachMode(mode) {
		return nil, invalidf("invalid mode: %s", mode)
	}
	for _, m := range strings.Split(mode, ",") {
		switch {
		case m == "":
		case m == "ro":
			mp.RW = false
		case m == "ro-non-recursive" || m == "ro-force-recursive" || m == "rro":
			if mp.Type != mount.TypeBind {
				return nil, invalidf("mount mode %q requires a bind mount: invalid volume specification: '%s'", mode, spec)
			}
			mp.RW = false
			mp.ReadOnlyNonRecursive = m == "ro-non-recursive"
			mp.ReadOnlyForceRecursive = m != "ro-non-recursive"
		case m == "rw":
			mp.RW = true
		case m == "z" || m == "Z":
			// SELinux relabelling: this host has no SELinux, so there is
			// nothing to relabel (dockerd does the same without SELinux).
		case m == "nocopy":
			if mp.Type != mount.TypeVolume {
				return nil, invalidf("invalid mode: %s", mode)
			}
			mp.CopyData = false
		case m == "consistent" || m == "cached" || m == "delegated":
			// macOS file sharing consistency: meaningless on Linux, as in dockerd.
		case propagations[m] != "":
			if mp.Type != mount.TypeBind {
				return nil, invalidf("invalid mode: %s", mode)
			}
			mp.Propagation = propagations[m]
		default:
			return nil, invalidf("invalid mode: %s", mode)
		}
	}
	if mp.Type == mount.TypeVolume && mp.Mode == "" {
		// dockerd marks a local volume's mount "z" (its SELinux label
		// mode) when no mode is given; inspect shows it.
		mp.Mode = "z"
	}
	return mp, nil
}

// oneOfEachMode is dockerd's rule: at most one mode of each kind (read
// only or write, SELinux label, propagation, copy, consistency).
func oneOfEachMode(mode string) bool {
	seen := map[string]bool{}
	for _, m := range strings.Split(mode, ",") {
		kind := m
		switch {
		case m == "ro" || m == "rw" || m == "rro" || strings.HasPrefix(m, "ro-"):
			kind = "rw"
		case m == "z" || m == "Z":
			kind = "label"
		case propagations[m] != "":
			kind = "propagation"
		case m == "consistent" || m == "cached" || m == "delegated":
			kind = "consistency"
		}
		if m != "" && seen[kind] {
			return false
		}
		seen[kind] = true
	}
	return true
}

func checkDestination(spec, dst string) error {
	if !path.IsAbs(dst) {
		return invalidf("invalid volume specification: '%s': invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", spec, dst)
	}
	if path.Clean(dst) == "/" {
		return invalidf("invalid specification: destination can't be '/'")
	}
	return nil
}

// ParseMount reads one --mount (HostConfig.Mounts entry) with dockerd's
// checks and messages.
func ParseMount(m mount.Mount) (*MountPoint, error) {
	typ := m.Type
	bad := func(format string, args ...any) error {
		return invalidf("invalid mount config for type %q: %s", typ, fmt.Sprintf(format, args...))
	}
	if m.Target == "" {
		return nil, bad("field Target must not be empty")
	}
	if !path.IsAbs(m.Target) {
		return nil, bad("invalid mount path: '%s' mount path must be absolute", m.Target)
	}
	if path.Clean(m.Target) == "/" {
		return nil, invalidf("invalid specification: destination can't be '/'")
	}
	if m.ImageOptions != nil || m.ClusterOptions != nil {
		return nil, bad("image and cluster options are not supported")
	}
	mp := &MountPoint{MountPoint: container.MountPoint{Type: typ, Destination: m.Target, RW: !m.ReadOnly}}
	switch typ {
	case mount.TypeBind:
		if m.Source == "" {
			return nil, bad("field Source must not be empty")
		}
		if !path.IsAbs(m.Source) {
			return nil, bad("invalid mount path: '%s' mount path must be absolute", m.Source)
		}
		if m.VolumeOptions != nil {
			return nil, bad("field VolumeOptions must not be specified")
		}
		if m.TmpfsOptions != nil {
			return nil, bad("field TmpfsOptions must not be specified")
		}
		mp.Source = filepath.Clean(m.Source)
		mp.Propagation = mount.PropagationRPrivate
		if b := m.BindOptions; b != nil {
			if b.Propagation != "" {
				if propagations[string(b.Propagation)] == "" {
					return nil, bad("invalid propagation mode: %s", b.Propagation)
				}
				mp.Propagation = b.Propagation
			}
			mp.NonRecursive = b.NonRecursive
			mp.CreateSource = b.CreateMountpoint
			if b.ReadOnlyNonRecursive || b.ReadOnlyForceRecursive {
				if !m.ReadOnly {
					return nil, bad("must set ReadOnly when ReadOnlyNonRecursive or ReadOnlyForceRecursive is set")
				}
				if b.ReadOnlyNonRecursive && b.ReadOnlyForceRecursive {
					return nil, bad("cannot set both ReadOnlyNonRecursive and ReadOnlyForceRecursive")
				}
				if b.NonRecursive && b.ReadOnlyForceRecursive {
					return nil, bad("cannot set both NonRecursive and ReadOnlyForceRecursive")
				}
			}
			mp.ReadOnlyNonRecursive, mp.ReadOnlyForceRecursive = b.ReadOnlyNonRecursive, b.ReadOnlyForceRecursive
		}
		if !mp.CreateSource {
			if _, err := os.Stat(mp.Source); err != nil {
				return nil, bad("bind source path does not exist: %s", mp.Source)
			}
		}
	case mount.TypeVolume:
		if m.BindOptions != nil {
			return nil, bad("field BindOptions must not be specified")
		}
		if m.TmpfsOptions != nil {
			return nil, bad("field TmpfsOptions must not be specified")
		}
		mp.Name, mp.Driver, mp.CopyData = m.Source, LocalDriver, true
		mp.Mode = "z" // as -v: dockerd's label mode of a local volume
		if mp.Name == "" {
			if m.ReadOnly {
				return nil, bad("must not set ReadOnly mode when using anonymous volumes")
			}
			mp.Anonymous = true
		}
		if o := m.VolumeOptions; o != nil {
			mp.CopyData = !o.NoCopy
			if o.Subpath != "" {
				if path.IsAbs(o.Subpath) || strings.Contains(o.Subpath, "..") {
					return nil, bad("subpath must be a relative path within the volume")
				}
				mp.Subpath = path.Clean(o.Subpath)
			}
			mp.VolumeLabels = o.Labels
			if d := o.DriverConfig; d != nil {
				if d.Name != "" && d.Name != LocalDriver {
					// 400, not dockerd's 404: the docker CLI takes a 404
					// at create for a missing image and would pull it.
					return nil, invalidf("error looking up volume plugin %s: plugin %q not found", d.Name, d.Name)
				}
				mp.VolumeOptions = d.Options
			}
		}
	case mount.TypeTmpfs:
		if m.Source != "" {
			return nil, bad("field Source must not be specified")
		}
		if m.BindOptions != nil || m.VolumeOptions != nil {
			return nil, bad("field BindOptions/VolumeOptions must not be specified")
		}
		mp.TmpfsData = []string{"nosuid", "nodev", "noexec"}
		if o := m.TmpfsOptions; o != nil {
			if o.SizeBytes < 0 {
				return nil, bad("invalid tmpfs size %d", o.SizeBytes)
			}
			if o.SizeBytes > 0 {
				mp.TmpfsData = append(mp.TmpfsData, "size="+strconv.FormatInt(o.SizeBytes, 10))
			}
			if o.Mode != 0 {
				// The CLI sends the octal mode's raw bits (1777 for a sticky
				// world-writable directory), as dockerd reads them.
				mp.TmpfsData = append(mp.TmpfsData, fmt.Sprintf("mode=%o", uint32(o.Mode)))
			}
			for _, kv := range o.Options {
				switch len(kv) {
				case 1:
					mp.TmpfsData = append(mp.TmpfsData, kv[0])
				case 2:
					mp.TmpfsData = append(mp.TmpfsData, kv[0]+"="+kv[1])
				default:
					return nil, bad("invalid tmpfs option %v", kv)
				}
			}
		}
	default:
		return nil, invalidf("mount type unknown: %q", typ)
	}
	return mp, nil
}

// ParseTmpfs reads a --tmpfs PATH[:OPTIONS] entry (HostConfig.Tmpfs):
// docker's defaults noexec,nosuid,nodev unless the options say otherwise.
func ParseTmpfs(dst, opts string) (*MountPoint, error) {
	if err := checkDestination(dst, dst); err != nil {
		return nil, err
	}
	data := []string{}
	set := map[string]bool{}
	for _, o := range strings.Split(opts, ",") {
		if o == "" {
			continue
		}
		k, v, hasV := strings.Cut(o, "=")
		switch k {
		case "exec", "noexec", "suid", "nosuid", "dev", "nodev", "ro", "rw", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "noatime", "atime", "nodiratime", "diratime", "relatime", "norelatime", "strictatime", "nostrictatime", "sync", "async", "dirsync", "tmpcopyup", "notmpcopyup":
		default:
			return nil, invalidf("invalid tmpfs option %q", o)
		}
		if k == "size" && hasV {
			n, err := units.RAMInBytes(v)
			if err != nil {
				return nil, invalidf("invalid tmpfs size %q", v)
			}
			o = "size=" + strconv.FormatInt(n, 10)
		}
		set[strings.TrimPrefix(k, "no")] = true
		data = append(data, o)
	}
	for _, d := range []string{"exec", "suid", "dev"} {
		if !set[d] {
			data = append(data, "no"+d)
		}
	}
	mp := &MountPoint{MountPoint: container.MountPoint{Type: mount.TypeTmpfs, Destination: dst, RW: true}, TmpfsData: data, TmpfsOption: true}
	for _, o := range data {
		if o == "ro" {
			mp.RW = false
		}
	}
	return mp, nil
}

// Plan lists a create request's mounts: binds (-v), mounts (--mount),
// tmpfs (--tmpfs), anonymous volumes of Config.Volumes and of the image's
// VOLUME (where no other mount covers the path), and those of the
// containers of VolumesFrom (resolved by from). Duplicate destinations are
// refused, as dockerd does.
func Plan(cfg *container.Config, hc *container.HostConfig, imageVolumes map[string]struct{}, from func(ref string) ([]*MountPoint, error)) ([]*MountPoint, error) {
	var out []*MountPoint
	seen := map[string]bool{}
	add := func(mp *MountPoint) error {
		d := path.Clean(mp.Destination)
		mp.Destination = d
		if seen[d] {
			return invalidf("Duplicate mount point: %s", d)
		}
		seen[d] = true
		out = append(out, mp)
		return nil
	}
	for _, b := range hc.Binds {
		mp, err := ParseBind(b)
		if err != nil {
			return nil, err
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	for _, m := range hc.Mounts {
		mp, err := ParseMount(m)
		if err != nil {
			return nil, err
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	tmpfs := make([]string, 0, len(hc.Tmpfs))
	for d := range hc.Tmpfs {
		tmpfs = append(tmpfs, d)
	}
	sort.Strings(tmpfs)
	for _, d := range tmpfs {
		mp, err := ParseTmpfs(d, hc.Tmpfs[d])
		if err != nil {
			return nil, err
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	for _, ref := range hc.VolumesFrom {
		name, mode, _ := strings.Cut(ref, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, invalidf("invalid mode for volumes-from: %s", mode)
		}
		mps, err := from(name)
		if errdefs.IsNotFound(err) {
			// A bad request, as dockerd has it (a 404 would send the
			// docker CLI pulling the image).
			return nil, invalidf("No such container: %s", name)
		}
		if err != nil {
			return nil, err
		}
		for _, p := range mps {
			if p.Type == mount.TypeTmpfs || seen[p.Destination] {
				continue // dockerd: tmpfs is not shared; a mount of ours wins
			}
			c := *p
			c.Anonymous = false // it belongs to the other container
			c.CopyData = false
			c.Mode = "" // dockerd copies the mount without its mode
			if mode == "ro" {
				c.RW = false
			} else if mode == "rw" {
				c.RW = true
			}
			if err := add(&c); err != nil {
				return nil, err
			}
		}
	}
	var anon []string
	for d := range cfg.Volumes {
		anon = append(anon, d)
	}
	for d := range imageVolumes {
		if _, dup := cfg.Volumes[d]; !dup {
			anon = append(anon, d)
		}
	}
	sort.Strings(anon)
	for _, d := range anon {
		if err := checkDestination(d, d); err != nil {
			return nil, err
		}
		if seen[path.Clean(d)] {
			continue
		}
		mp := &MountPoint{MountPoint: container.MountPoint{Type: mount.TypeVolume, Destination: d, RW: true, Driver: LocalDriver}, Anonymous: true, CopyData: true}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	return out, nil
}
