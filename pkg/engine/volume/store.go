// Package volume is the engine's volume store: named and anonymous volumes
// of the `local` driver, kept as directories under DATA_ROOT/volumes, each
// recorded atomically (a SIGKILL at any moment loses no volume), and, with
// the driver's type/device/o options, a tmpfs, bind or block device
// mounted as the volume while containers use it.
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
)

// LocalDriver is the only driver.
const LocalDriver = "local"

// Volume is one volume's record (DATA_ROOT/volumes/<name>/volume.json);
// its data is DATA_ROOT/volumes/<name>/_data.
type Volume struct {
	Name      string
	Driver    string
	Labels    map[string]string
	Options   map[string]string
	CreatedAt time.Time
	// Anonymous volumes are made for `-v /path` and an image's VOLUME and
	// go with `rm -v` / `run --rm`.
	Anonymous bool
	// CopyingUp is recorded before the image content is copied into the
	// empty volume and cleared after: a copy-up cut short by a crash is
	// found at the next start, its partial content removed and the copy
	// made again.
	CopyingUp bool `json:",omitempty"`

	Mountpoint string `json:"-"`
}

// Store holds the volumes.
type Store struct {
	root string

	mu   sync.Mutex
	vols map[string]*Volume
	// active counts the running users of a volume with a mount of its own
	// (type/device options), mounted at first use and unmounted after the
	// last.
	active map[string]int
	// owner of a new volume's _data (-1: root), the remapped root under
	// --userns-remap.
	uid, gid int
}

// SetOwner makes new volumes' directories owned by uid and gid (the
// containers' root under engined --userns-remap), as dockerd does.
func (s *Store) SetOwner(uid, gid int) {
	s.mu.Lock()
	s.uid, s.gid = uid, gid
	s.mu.Unlock()
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Open loads the store under dataRoot. Records of creates cut short by a
// crash (a directory without volume.json) are removed.
func Open(dataRoot string) (*Store, error) {
	root := filepath.Join(dataRoot, "volumes")
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, err
	}
	s := &Store{root: root, vols: map[string]*Volume{}, active: map[string]int{}, uid: -1, gid: -1}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		dir := filepath.Join(root, e.Name())
		if strings.HasPrefix(e.Name(), ".tmp-") {
			os.RemoveAll(dir)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "volume.json"))
		if err != nil {
			continue // not ours, or unreadable: left alone
		}
		var v Volume
		if err := json.Unmarshal(b, &v); err != nil || v.Name != e.Name() {
			continue
		}
		v.Mountpoint = filepath.Join(dir, "_data")
		s.vols[v.Name] = &v
		// A device mounted as the volume stays: containers still running
		// use it. Mount adopts it; UnmountUnused takes down the others.
	}
	return s, nil
}

// UnmountUnused takes down the devices mounted as volumes that no user
// holds (after a restart, once the running users were counted with
// Mount): those a crash left behind.
func (s *Store) UnmountUnused() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, v := range s.vols {
		if v.hasMount() && s.active[name] == 0 {
			if ok, _ := mountinfo.Mounted(v.Mountpoint); ok {
				unix.Unmount(v.Mountpoint, unix.MNT_DETACH)
			}
		}
	}
}

func (v *Volume) hasMount() bool { return v.Options["type"] != "" || v.Options["device"] != "" }

func newName() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateOptions of a volume.
type CreateOptions struct {
	Name      string // "" makes an anonymous-looking random name
	Driver    string
	Labels    map[string]string
	Options   map[string]string
	Anonymous bool
}

// Create makes a volume, or returns the existing one of that name (as
// dockerd: creating an existing volume is not an error).
func (s *Store) Create(o CreateOptions) (*Volume, error) {
	if o.Driver == "" {
		o.Driver = LocalDriver
	}
	if o.Driver != LocalDriver {
		return nil, errdefs.Classf(errdefs.ErrNotFound, "error looking up volume plugin %s: plugin %q not found", o.Driver, o.Driver)
	}
	if err := checkOptions(o.Options); err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = newName()
	} else if !nameRE.MatchString(name) {
		return nil, errdefs.Classf(errdefs.ErrInvalidArgument, "volume name %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		if len(o.Options) > 0 && !sameMap(o.Options, v.Options) {
			return nil, errdefs.Classf(errdefs.ErrConflict, "volume %s already exists with different options", name)
		}
		return v, nil
	}
	v := &Volume{Name: name, Driver: o.Driver, Labels: o.Labels, Options: o.Options, CreatedAt: time.Now().UTC().Truncate(time.Second), Anonymous: o.Anonymous}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	// Made in a temporary directory and renamed into place: a crash leaves
	// either no volume or a whole one.
	tmp, err := os.MkdirTemp(s.root, ".tmp-")
	if err != nil {
		return nil, err
	}
	// 0701 as dockerd's: a remapped root reaches _data, nobody lists.
	if err := os.Chmod(tmp, 0o701); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(tmp, "_data"), 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if s.uid >= 0 {
		if err := os.Chown(filepath.Join(tmp, "_data"), s.uid, s.gid); err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
	}
	if err := writeRecord(tmp, v); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	failpoint.Hit("volume-create-written")
	dir := filepath.Join(s.root, name)
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	syncDir(s.root)
	failpoint.Hit("volume-created")
	v.Mountpoint = filepath.Join(dir, "_data")
	s.vols[name] = v
	return v, nil
}

func writeRecord(dir string, v *Volume) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "volume.json"), b, 0o600)
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkOptions accepts the local driver's options: type, device, o (the
// mount(8) options, with size for tmpfs), as dockerd's local driver does.
func checkOptions(opts map[string]string) error {
	for k := range opts {
		switch k {
		case "type", "device", "o", "size":
		default:
			return errdefs.Classf(errdefs.ErrInvalidArgument, "invalid option: %q", k)
		}
	}
	if opts["type"] != "" && opts["device"] == "" || opts["type"] == "" && opts["device"] != "" {
		return errdefs.Classf(errdefs.ErrInvalidArgument, "missing required option: %q", map[bool]string{true: "device", false: "type"}[opts["device"] == ""])
	}
	return nil
}

// Get returns a volume by name.
func (s *Store) Get(name string) (*Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return nil, errdefs.Classf(errdefs.ErrNotFound, "get %s: no such volume", name)
	}
	return v, nil
}

// List returns every volume, by name.
func (s *Store) List() []*Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Volume, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SetCopyingUp records (durably) that a copy-up into the volume starts
// (true) or is done (false).
func (s *Store) SetCopyingUp(name string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return fmt.Errorf("volume %s: %w", name, errdefs.ErrNotFound)
	}
	c := *v
	c.CopyingUp = on
	if err := writeRecord(filepath.Join(s.root, name), &c); err != nil {
		return err
	}
	v.CopyingUp = on
	return nil
}

// Remove deletes a volume and its data. The caller checks that no
// container uses it.
func (s *Store) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return errdefs.Classf(errdefs.ErrNotFound, "get %s: no such volume", name)
	}
	if s.active[name] > 0 {
		return fmt.Errorf("remove %s: volume is in use: %w", name, errdefs.ErrConflict)
	}
	dir := filepath.Join(s.root, name)
	if v.hasMount() {
		unix.Unmount(v.Mountpoint, unix.MNT_DETACH)
	}
	// Renamed away first: a crash in the middle of the removal of a big
	// tree leaves a .tmp- directory that Open finishes removing, never a
	// half-deleted volume under its name.
	gone := filepath.Join(s.root, ".tmp-rm-"+name)
	if err := os.Rename(dir, gone); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	syncDir(s.root)
	failpoint.Hit("volume-remove")
	delete(s.vols, name)
	return os.RemoveAll(gone)
}

// Mount makes the volume's data available at its mountpoint for one more
// user (mounting the configured device at the first) and returns the path.
func (s *Store) Mount(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return "", fmt.Errorf("volume %s: %w", name, errdefs.ErrNotFound)
	}
	if v.hasMount() && s.active[name] == 0 {
		// Mounted already: engined restarted under running users.
		if ok, _ := mountinfo.Mounted(v.Mountpoint); !ok {
			if err := mountLocal(v); err != nil {
				return "", err
			}
		}
	}
	s.active[name]++
	return v.Mountpoint, nil
}

// Unmount drops a user; the last one takes the device's mount down.
func (s *Store) Unmount(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok || s.active[name] == 0 {
		return
	}
	s.active[name]--
	if s.active[name] == 0 && v.hasMount() {
		unix.Unmount(v.Mountpoint, unix.MNT_DETACH)
	}
}

// Size is the disk usage of a volume's data (-1 when unknown).
func (s *Store) Size(name string) int64 {
	v, err := s.Get(name)
	if err != nil {
		return -1
	}
	// As dockerd's local driver: the sizes of what is not a directory, a
	// file with several hard links counted once.
	var n int64
	seen := map[uint64]bool{}
	filepath.Walk(v.Mountpoint, func(_ string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		n += fi.Size()
		return nil
	})
	return n
}
