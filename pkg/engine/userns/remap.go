// Package userns resolves engined's --userns-remap: the subordinate ID
// ranges of a host user (from /etc/subuid and /etc/subgid) that every
// container's root and users are mapped into, as dockerd does.
package userns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultUser is the user "default" names; made when missing, as dockerd
// makes it.
const DefaultUser = "dockremap"

// Remap is the mapping containers get.
type Remap struct {
	User, Group string
	UIDs, GIDs  []specs.LinuxIDMapping
}

// Root is the host uid and gid of the containers' root.
func (r *Remap) Root() (uid, gid int) {
	return int(r.UIDs[0].HostID), int(r.GIDs[0].HostID)
}

// ToHost maps a container uid and gid to the host's.
func (r *Remap) ToHost(uid, gid int) (int, int, error) {
	hu, ok := toHost(r.UIDs, uid)
	if !ok {
		return 0, 0, fmt.Errorf("uid %d is not mapped by --userns-remap %s", uid, r.User)
	}
	hg, ok := toHost(r.GIDs, gid)
	if !ok {
		return 0, 0, fmt.Errorf("gid %d is not mapped by --userns-remap %s", gid, r.User)
	}
	return hu, hg, nil
}

func toHost(ms []specs.LinuxIDMapping, id int) (int, bool) {
	for _, m := range ms {
		if id >= int(m.ContainerID) && id < int(m.ContainerID)+int(m.Size) {
			return int(m.HostID) + id - int(m.ContainerID), true
		}
	}
	return 0, false
}

// Files are where the accounts are read (tests point them elsewhere).
type Files struct {
	Passwd, Group, SubUID, SubGID string
}

// SystemFiles are the host's.
var SystemFiles = Files{Passwd: "/etc/passwd", Group: "/etc/group", SubUID: "/etc/subuid", SubGID: "/etc/subgid"}

// Resolve turns the flag's value (default, USER, USER:GROUP, UID or
// UID:GID) into the mapping. "default" makes the dockremap user and its
// ranges when missing; any other user must exist and have ranges.
func Resolve(value string, f Files) (*Remap, error) {
	if value == "" {
		return nil, nil
	}
	name, group, _ := strings.Cut(value, ":")
	if name == "default" {
		if group != "" {
			return nil, errors.New("--userns-remap: default takes no group")
		}
		if err := ensureDefaultUser(f); err != nil {
			return nil, fmt.Errorf("--userns-remap default: %w", err)
		}
		name = DefaultUser
	}
	u, err := lookupUser(f.Passwd, name)
	if err != nil {
		return nil, fmt.Errorf("--userns-remap %s: %w", value, err)
	}
	g := user.Group{Name: u.Name, Gid: u.Gid}
	if group != "" {
		if g, err = lookupGroup(f.Group, group); err != nil {
			return nil, fmt.Errorf("--userns-remap %s: %w", value, err)
		}
	} else if gg, err := lookupGroup(f.Group, u.Name); err == nil {
		g = gg
	}
	uids, err := ranges(f.SubUID, u.Name, u.Uid)
	if err != nil {
		return nil, fmt.Errorf("--userns-remap %s: %w", value, err)
	}
	gids, err := ranges(f.SubGID, g.Name, g.Gid)
	if err != nil {
		return nil, fmt.Errorf("--userns-remap %s: %w", value, err)
	}
	return &Remap{User: u.Name, Group: g.Name, UIDs: uids, GIDs: gids}, nil
}

func lookupUser(path, name string) (user.User, error) {
	us, err := user.ParsePasswdFileFilter(path, func(u user.User) bool {
		return u.Name == name || strconv.Itoa(u.Uid) == name
	})
	if err != nil {
		return user.User{}, err
	}
	if len(us) == 0 {
		return user.User{}, fmt.Errorf("no user %q in %s", name, path)
	}
	return us[0], nil
}

func lookupGroup(path, name string) (user.Group, error) {
	gs, err := user.ParseGroupFileFilter(path, func(g user.Group) bool {
		return g.Name == name || strconv.Itoa(g.Gid) == name
	})
	if err != nil {
		return user.Group{}, err
	}
	if len(gs) == 0 {
		return user.Group{}, fmt.Errorf("no group %q in %s", name, path)
	}
	return gs[0], nil
}

// ranges are the subordinate ranges of name (or its numeric id), laid end
// to end from container id 0, as dockerd lays them.
func ranges(path, name string, id int) ([]specs.LinuxIDMapping, error) {
	ids, err := user.ParseSubIDFileFilter(path, func(s user.SubID) bool {
		return s.Name == name || s.Name == strconv.Itoa(id)
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no subordinate ids for %q in %s", name, path)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].SubID < ids[j].SubID })
	var out []specs.LinuxIDMapping
	next := int64(0)
	for _, s := range ids {
		if s.SubID < 0 || s.Count <= 0 || s.SubID+s.Count > 1<<32-1 || next+s.Count > 1<<32-1 {
			return nil, fmt.Errorf("bad subordinate range %s:%d:%d in %s", s.Name, s.SubID, s.Count, path)
		}
		if s.SubID == 0 {
			return nil, fmt.Errorf("subordinate range of %q in %s starts at 0: the host's root would be mapped", name, path)
		}
		out = append(out, specs.LinuxIDMapping{ContainerID: uint32(next), HostID: uint32(s.SubID), Size: uint32(s.Count)})
		next += s.Count
	}
	return out, nil
}

// ensureDefaultUser makes the dockremap system user and gives it 65536
// subordinate uids and gids after every range already given, as dockerd
// does (with the shadow tools, which keep the files consistent).
func ensureDefaultUser(f Files) error {
	if f != SystemFiles {
		return nil // tests bring their own accounts
	}
	if _, err := lookupUser(f.Passwd, DefaultUser); err != nil {
		if out, err := exec.Command("useradd", "-r", "-s", "/bin/false", DefaultUser).CombinedOutput(); err != nil {
			return fmt.Errorf("useradd %s: %v: %s", DefaultUser, err, strings.TrimSpace(string(out)))
		}
	}
	uids, _ := ranges(f.SubUID, DefaultUser, -1)
	gids, _ := ranges(f.SubGID, DefaultUser, -1)
	if len(uids) > 0 && len(gids) > 0 {
		return nil
	}
	start, err := freeStart(f)
	if err != nil {
		return err
	}
	r := fmt.Sprintf("%d-%d", start, start+65535)
	var args []string
	if len(uids) == 0 {
		args = append(args, "-v", r)
	}
	if len(gids) == 0 {
		args = append(args, "-w", r)
	}
	if out, err := exec.Command("usermod", append(args, DefaultUser)...).CombinedOutput(); err != nil {
		return fmt.Errorf("usermod %s: %v: %s", DefaultUser, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// freeStart is 100000, or the end of the highest range either file
// gives when that is above it.
func freeStart(f Files) (int64, error) {
	start := int64(100000)
	for _, p := range []string{f.SubUID, f.SubGID} {
		ids, err := user.ParseSubIDFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		for _, s := range ids {
			if end := s.SubID + s.Count; end > start {
				start = end
			}
		}
	}
	return start, nil
}

// CheckReachable fails when the remapped root (uid, gid on the host)
// cannot search every directory down to dir: the runtime resolves the
// paths it bind-mounts from inside the container's user namespace, where
// the host's root-owned directories grant it only their "other" bits.
func CheckReachable(dir string, uid, gid int) error {
	p := "/"
	for _, c := range strings.Split(strings.Trim(filepath.Clean(dir), "/"), "/") {
		if c == "" {
			continue
		}
		p = filepath.Join(p, c)
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil // made by us, searchable
			}
			return fmt.Errorf("--userns-remap: %s: %w", p, err)
		}
		m := st.Mode
		ok := m&0o001 != 0 || m&0o010 != 0 && int(st.Gid) == gid || m&0o100 != 0 && int(st.Uid) == uid
		if !ok {
			return fmt.Errorf("--userns-remap: the containers' root (uid %d) cannot reach %s: %s has mode %04o (it needs o+x, as dockerd's 0711)", uid, dir, p, m&0o7777)
		}
	}
	return nil
}
