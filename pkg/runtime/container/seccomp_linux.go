package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthd/berth/pkg/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const seccompFile = "seccomp.json"

// loadSeccompConfig reads the container's seccomp config saved by create;
// nil when it has none.
func loadSeccompConfig(s *State) (*specs.LinuxSeccomp, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, seccompFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c specs.LinuxSeccomp
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", seccompFile, err)
	}
	return &c, nil
}

// dialSeccompAgent connects to linux.seccomp.listenerPath when the profile
// notifies: the parent dials it on the host, so that init can still reach
// the agent after pivot_root. nil when there is none.
func dialSeccompAgent(c *specs.LinuxSeccomp) (*os.File, error) {
	if c == nil || c.ListenerPath == "" {
		return nil, nil
	}
	f, err := dialUnix(c.ListenerPath)
	if err != nil {
		return nil, fmt.Errorf("connect to seccomp listenerPath %s: %w", c.ListenerPath, err)
	}
	return f, nil
}

// seccompLoader loads a compiled filter on the calling thread and, for a
// notifying profile, sends the listener fd to the agent with the
// container's state (runtime-spec "seccomp" section: ContainerProcessState,
// fds ["seccompFd"]).
type seccompLoader struct {
	conn  int // connection to listenerPath; 0 when there is none
	state specs.ContainerProcessState
}

func (l *seccompLoader) load(f *seccomp.Filter) error {
	lfd, err := f.Load()
	if err != nil {
		return err
	}
	if lfd < 0 {
		return nil
	}
	defer unix.Close(lfd)
	if l.conn <= 0 {
		return errors.New("seccomp notify: no connection to the listenerPath agent")
	}
	b, err := json.Marshal(l.state)
	if err != nil {
		return err
	}
	if err := unix.Sendmsg(l.conn, b, unix.UnixRights(lfd), nil, 0); err != nil {
		return fmt.Errorf("send the seccomp listener fd to the agent: %w", err)
	}
	unix.Close(l.conn)
	l.conn = 0
	return nil
}

func processState(c *specs.LinuxSeccomp, st specs.State) specs.ContainerProcessState {
	return specs.ContainerProcessState{Version: specs.Version, Fds: []string{"seccompFd"}, Pid: st.Pid,
		Metadata: c.ListenerMetadata, State: st}
}
