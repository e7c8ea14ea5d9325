package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// seccompFile keeps a container's compiled filter for exec; legacySeccompFile
// is the profile itself, as runtimes before it kept it (compiled again on
// every exec).
const (
	seccompFile       = "seccomp-filter.json"
	legacySeccompFile = "seccomp.json"
)

// compiledSeccomp is a container's compiled filter with what a notifying
// profile's agent needs: what create hands to init and keeps for exec, so
// that the profile is compiled once per container.
type compiledSeccomp struct {
	Filter           *seccomp.Filter `json:"filter"`
	ListenerPath     string          `json:"listenerPath,omitempty"`
	ListenerMetadata string          `json:"listenerMetadata,omitempty"`
	// cached is the cache's file of this filter (compileSeccompCached),
	// which holds what saveSeccomp would write.
	cached string
}

func newCompiledSeccomp(c *specs.LinuxSeccomp, f *seccomp.Filter) *compiledSeccomp {
	if f == nil {
		return nil
	}
	return &compiledSeccomp{Filter: f, ListenerPath: c.ListenerPath, ListenerMetadata: c.ListenerMetadata}
}

// saveSeccomp keeps the compiled filter in the container's directory, out of
// state.json, which every command reads.
func saveSeccomp(dir string, sc *compiledSeccomp) error {
	if sc == nil {
		return nil
	}
	// A link to the cache's file: its entries are never written in place
	// (replaced whole, or removed, which leaves the link's), and encoding
	// and writing the filter again was 0.6 ms of every create here.
	if sc.cached != "" && os.Link(sc.cached, filepath.Join(dir, seccompFile)) == nil {
		return nil
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	return atomicfile.Replace(filepath.Join(dir, seccompFile), b, 0o600)
}

// loadSeccomp reads the container's filter saved by create; nil when it
// has none. A container created by an earlier runtime has the profile
// instead: it is compiled, so that exec'd processes stay filtered.
func loadSeccomp(s *State) (*compiledSeccomp, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, seccompFile))
	if err == nil {
		var sc compiledSeccomp
		if err := json.Unmarshal(b, &sc); err != nil || sc.Filter == nil {
			return nil, fmt.Errorf("read %s: %w", seccompFile, errors.Join(err, errors.New("no filter")))
		}
		return &sc, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b, err = os.ReadFile(filepath.Join(s.dir, legacySeccompFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c specs.LinuxSeccomp
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", legacySeccompFile, err)
	}
	f, err := seccomp.Compile(&c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", legacySeccompFile, err)
	}
	return newCompiledSeccomp(&c, f), nil
}

// dialSeccompAgent connects to linux.seccomp.listenerPath when the profile
// notifies: the parent dials it on the host, so that init can still reach
// the agent after pivot_root. nil when there is none.
func dialSeccompAgent(sc *compiledSeccomp) (*os.File, error) {
	if sc == nil || sc.ListenerPath == "" {
		return nil, nil
	}
	f, err := dialUnix(sc.ListenerPath)
	if err != nil {
		return nil, fmt.Errorf("connect to seccomp listenerPath %s: %w", sc.ListenerPath, err)
	}
	return f, nil
}

func processState(sc *compiledSeccomp, st specs.State) specs.ContainerProcessState {
	return specs.ContainerProcessState{Version: specs.Version, Fds: []string{"seccompFd"}, Pid: st.Pid,
		Metadata: sc.ListenerMetadata, State: st}
}
