// Package container implements the OCI runtime operations on one container:
// create (with the init process that runs inside it), start, state, kill,
// delete, pause, resume and ps.
package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/runtime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultRoot is where container state lives unless the caller (the
// runtime's --root) says otherwise.
const DefaultRoot = "/run/berth/runtime"

// Status values beyond those of the runtime spec are not used.
const (
	Creating = specs.StateCreating
	Created  = specs.StateCreated
	Running  = specs.StateRunning
	Stopped  = specs.StateStopped
	Paused   = "paused"
)

const (
	stateFile = "state.json"
	fifoName  = "exec.fifo"
)

// State is what the runtime persists in ROOT/ID/state.json.
type State struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	// InitStartTime is field 22 of /proc/PID/stat of the init process; a pid
	// whose start time differs was reused and the container is stopped.
	InitStartTime uint64           `json:"initStartTime"`
	Cgroups       *cgroups.Manager `json:"cgroups,omitempty"`
	Hooks         *specs.Hooks     `json:"hooks,omitempty"`
	// RawResources are the container's current limits: those of
	// config.json, then as changed by `update`, which merges into them. Kept
	// as JSON and decoded only by `update` (Resources): every command reads
	// the state, and a *specs.LinuxResources field would make the first
	// decode in each runtime process build the codecs of some fifty types
	// (docs/performance.md, "JSON in short-lived processes").
	RawResources json.RawMessage `json:"resources,omitempty"`
	Owner        string          `json:"owner,omitempty"`

	dir string
}

// ValidateID rejects ids that are not safe as a directory name: letters,
// digits and "_+-." only (runc's rule), not "." or "..".
func ValidateID(id string) error {
	ok := id != "" && id != "." && id != ".." && len(id) <= 1024
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '+' || c == '-' || c == '.'
	}
	if !ok {
		return classErr(ErrInvalidArgument, "invalid container id %q", id)
	}
	return nil
}

// Load reads the state of container id under root and refreshes its status.
func Load(root, id string) (*State, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, classErr(ErrNotFound, "container does not exist")
		}
		return nil, err
	}
	s := &State{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("parse state of %s: %w", id, err)
	}
	s.dir = dir
	s.Status = s.currentStatus()
	return s, nil
}

// Resources decodes RawResources; nil when there are none.
func (s *State) Resources() (*specs.LinuxResources, error) {
	if len(s.RawResources) == 0 || string(s.RawResources) == "null" {
		return nil, nil
	}
	r := &specs.LinuxResources{}
	if err := json.Unmarshal(s.RawResources, r); err != nil {
		return nil, fmt.Errorf("parse resources in the state of %s: %w", s.ID, err)
	}
	return r, nil
}

// SetResources replaces RawResources with r.
func (s *State) SetResources(r *specs.LinuxResources) error {
	if r == nil {
		s.RawResources = nil
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	s.RawResources = b
	return nil
}

// Dir is the container's state directory.
func (s *State) Dir() string { return s.dir }

func (s *State) save() error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return atomicfile.Replace(filepath.Join(s.dir, stateFile), b, 0o600)
}

// procStat returns the state letter and start time of pid, or ok=false when
// the process does not exist.
func procStat(pid int) (state byte, start uint64, ok bool) {
	if pid <= 0 {
		return 0, 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// comm may contain spaces and parentheses: fields start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 {
		return 0, 0, false
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], st, true
}

// initAlive reports whether the container's init process still runs.
func (s *State) initAlive() bool {
	st, start, ok := procStat(s.Pid)
	if !ok || st == 'Z' || st == 'X' {
		return false
	}
	return s.InitStartTime == 0 || start == s.InitStartTime
}

func (s *State) currentStatus() specs.ContainerState {
	if !s.initAlive() {
		return Stopped
	}
	if s.Status == Creating {
		// Saved so by a create that has not finished (or was killed:
		// init, whose set-up needs it, then exits).
		return Creating
	}
	if _, err := os.Lstat(filepath.Join(s.dir, fifoName)); err == nil {
		return Created
	}
	if s.Cgroups != nil && s.Cgroups.Frozen() {
		return Paused
	}
	return Running
}

// OCIState is the state as printed by `state`.
func (s *State) OCIState() specs.State {
	st := s.State
	if st.Status == Stopped {
		st.Pid = 0
	}
	return st
}

// List returns the states of all containers under root.
func List(root string) ([]*State, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var res []*State
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		s, err := Load(root, e.Name())
		if err != nil {
			continue
		}
		res = append(res, s)
	}
	return res, nil
}
