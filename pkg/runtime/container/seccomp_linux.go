package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// seccompFile keeps a container's compiled filter for exec (the cache's
// entries are the same files); legacySeccompFile is the profile itself, as
// earlier runtimes kept it (compiled again on every exec). seccompFile
// keeps the name it had when it held JSON: an earlier runtime that finds
// this format fails the exec, where under a new name it would find no
// filter and exec unfiltered.
const (
	seccompFile       = "seccomp-filter.json"
	legacySeccompFile = "seccomp.json"
)

// compiledMagic starts a compiled filter's file: then a JSON header line
// (compiledHeader), then the program as the kernel's struct sock_filter
// array (seccomp.ProgBytes). Not all JSON: encoding/json scans a string
// byte by byte, and the base64 program of Docker's profile (1031
// instructions) took 0.12-0.23 ms of every create and exec to decode
// (against 0.035 ms this way, in a warm process).
const compiledMagic = "berth seccomp filter 1\n"

type compiledHeader struct {
	Flags            uint   `json:"flags,omitempty"`
	Notify           bool   `json:"notify,omitempty"`
	ListenerPath     string `json:"listenerPath,omitempty"`
	ListenerMetadata string `json:"listenerMetadata,omitempty"`
}

// encode is sc as its file.
func (sc *compiledSeccomp) encode() ([]byte, error) {
	h, err := json.Marshal(compiledHeader{Flags: sc.Filter.Flags, Notify: sc.Filter.Notify,
		ListenerPath: sc.ListenerPath, ListenerMetadata: sc.ListenerMetadata})
	if err != nil {
		return nil, err
	}
	b := append([]byte(compiledMagic), h...)
	return append(append(b, '\n'), seccomp.ProgBytes(sc.Filter.Prog)...), nil
}

// decodeCompiled reads what encode wrote, or the JSON of earlier runtimes.
func decodeCompiled(b []byte) (*compiledSeccomp, error) {
	rest, ok := bytes.CutPrefix(b, []byte(compiledMagic))
	if !ok {
		var sc compiledSeccomp
		if err := json.Unmarshal(b, &sc); err != nil {
			return nil, err
		}
		if sc.Filter == nil {
			return nil, errors.New("no filter")
		}
		return &sc, nil
	}
	hdr, prog, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		return nil, errors.New("compiled filter: no header")
	}
	var h compiledHeader
	if err := json.Unmarshal(hdr, &h); err != nil {
		return nil, fmt.Errorf("compiled filter header: %w", err)
	}
	p, err := seccomp.ParseProg(prog)
	if err != nil {
		return nil, err
	}
	return &compiledSeccomp{Filter: &seccomp.Filter{Prog: p, Flags: h.Flags, Notify: h.Notify},
		ListenerPath: h.ListenerPath, ListenerMetadata: h.ListenerMetadata}, nil
}

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
	b, err := sc.encode()
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
		sc, err := decodeCompiled(b)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", seccompFile, err)
		}
		return sc, nil
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
