package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berthd/berth/pkg/runtime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Start lets a created container run its process.
func Start(root, id string) error {
	s, err := Load(root, id)
	if err != nil {
		return err
	}
	switch s.Status {
	case Created:
	case Stopped:
		return classErr(ErrFailedPrecondition, "cannot start a container that has stopped")
	case Creating:
		return classErr(ErrFailedPrecondition, "cannot start a container that is still being created")
	default:
		return classErr(ErrFailedPrecondition, "cannot start an already running container")
	}
	return s.start()
}

func (s *State) start() error {
	defer Trace.Begin("exec (fifo to execve)")()
	fifoPath := filepath.Join(s.dir, fifoName)
	fd, err := unix.Open(fifoPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return classErr(ErrFailedPrecondition, "container is not in created state")
		}
		return &os.PathError{Op: "open exec fifo", Path: fifoPath, Err: err}
	}
	defer unix.Close(fd)
	// Wait for init's byte, but notice if init dies instead.
	buf := make([]byte, 1)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 100)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("poll exec fifo: %w", err)
		}
		if n > 0 {
			r, err := unix.Read(fd, buf)
			if r == 1 {
				break
			}
			if err != nil && err != unix.EAGAIN {
				return fmt.Errorf("read exec fifo: %w", err)
			}
			if r == 0 && err == nil {
				return errors.New("container init closed the exec fifo without starting")
			}
		}
		if !s.initAlive() {
			return classErr(ErrFailedPrecondition, "cannot start a container that has stopped")
		}
	}
	if Trace != nil {
		awaitExec(fd)
	}
	if err := os.Remove(fifoPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.Status = Running
	if s.Hooks != nil && len(s.Hooks.Poststart) > 0 {
		if err := runHooks("poststart", s.Hooks.Poststart, s.OCIState()); err != nil {
			// Per the spec a poststart failure is logged, the container keeps running.
			Warnf("%v", err)
		}
	}
	return nil
}

// Kill sends sig to the container's init, or with all to every process in
// its cgroup.
func Kill(root, id string, sig unix.Signal, all bool) error {
	s, err := Load(root, id)
	if err != nil {
		return err
	}
	if all {
		return s.signalAll(sig)
	}
	if s.Status == Stopped {
		return classErr(ErrFailedPrecondition, "container not running")
	}
	if err := unix.Kill(s.Pid, sig); err != nil {
		return fmt.Errorf("kill container init: %w", err)
	}
	return nil
}

func (s *State) signalAll(sig unix.Signal) error {
	if s.Cgroups == nil {
		if s.Status == Stopped {
			return nil
		}
		return unix.Kill(s.Pid, sig)
	}
	if sig == unix.SIGKILL {
		// cgroup.kill (v2) kills frozen processes too and races no fork.
		err := s.Cgroups.Kill()
		if !errors.Is(err, cgroups.ErrNoKillFile) {
			if errors.Is(err, os.ErrNotExist) {
				return nil // the cgroup is gone with its processes
			}
			return err
		}
	}
	// Freeze so that no new process escapes between listing and signalling.
	// A freeze that times out can leave the cgroup FREEZING, so the thaw
	// below runs whether or not the freeze succeeded: a SIGKILLed process
	// that stays frozen never dies.
	if err := s.Cgroups.Freeze(true); err != nil {
		Warnf("freeze before signalling all: %v", err)
	}
	thaw := s.Status != Paused || sig == unix.SIGKILL
	pids, err := s.Cgroups.Pids()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		if thaw {
			_ = s.Cgroups.Freeze(false)
		}
		return err
	}
	for _, p := range pids {
		if err := unix.Kill(p, sig); err != nil && err != unix.ESRCH {
			Warnf("kill %d: %v", p, err)
		}
	}
	if thaw {
		if err := s.Cgroups.Freeze(false); err != nil {
			Warnf("thaw after signalling all: %v", err)
		}
	}
	return nil
}

// Delete removes a stopped or created container; force kills a running one.
func Delete(root, id string, force bool) error {
	s, err := Load(root, id)
	if err != nil {
		if force && errors.Is(err, ErrNotFound) {
			if ValidateID(id) == nil {
				_ = os.RemoveAll(filepath.Join(root, id))
			}
			return nil
		}
		return err
	}
	switch s.Status {
	case Stopped:
	case Created:
		s.killAndWait()
	default:
		if !force {
			return classErr(ErrFailedPrecondition, "cannot delete container %s that is not stopped: %s", id, s.Status)
		}
		s.killAndWait()
	}
	return s.destroy()
}

func (s *State) killAndWait() {
	_ = s.signalAll(unix.SIGKILL)
	if s.Cgroups != nil && s.Cgroups.Frozen() {
		_ = s.Cgroups.Freeze(false)
	}
	_ = unix.Kill(s.Pid, unix.SIGKILL)
	for i := 0; i < 10000 && s.initAlive(); i++ {
		time.Sleep(time.Millisecond)
	}
}

func (s *State) destroy() error {
	var firstErr error
	if s.Cgroups != nil {
		// Processes left outside the pid namespace's reach (no pid ns).
		if pids, _ := s.Cgroups.Pids(); len(pids) > 0 {
			_ = s.signalAll(unix.SIGKILL)
		}
		if err := s.Cgroups.Destroy(); err != nil {
			firstErr = err
		}
	}
	if s.Hooks != nil && len(s.Hooks.Poststop) > 0 {
		st := s.OCIState()
		st.Status = Stopped
		if err := runHooks("poststop", s.Hooks.Poststop, st); err != nil {
			Warnf("%v", err)
		}
	}
	if err := os.RemoveAll(s.dir); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

// Pause freezes a running container.
func Pause(root, id string) error {
	s, err := Load(root, id)
	if err != nil {
		return err
	}
	if s.Status != Running {
		return classErr(ErrFailedPrecondition, "container not running")
	}
	return s.Cgroups.Freeze(true)
}

// Resume thaws a paused container.
func Resume(root, id string) error {
	s, err := Load(root, id)
	if err != nil {
		return err
	}
	if s.Status != Paused {
		return classErr(ErrFailedPrecondition, "container not paused")
	}
	return s.Cgroups.Freeze(false)
}

// Pids lists the host pids of the container's processes.
func Pids(root, id string) ([]int, error) {
	s, err := Load(root, id)
	if err != nil {
		return nil, err
	}
	if s.Cgroups == nil {
		return nil, nil
	}
	return s.Cgroups.Pids()
}

var _ = specs.Version
