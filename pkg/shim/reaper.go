package shim

import (
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Exit is how a child of the shim ended.
type Exit struct {
	Pid    int
	Status uint32 // exit code, or 128+signal
	At     time.Time
}

// maxRecent bounds how many unclaimed exits the reaper remembers.
const maxRecent = 128

// Reaper is the shim's only caller of wait4. Every child (runtime
// invocations, the orphaned container init, anything the container leaves
// behind once the shim is its subreaper) is reaped here and its exit is
// handed to whoever asked for that pid.
type Reaper struct {
	mu      sync.Mutex
	waiters map[int][]chan Exit
	// recent holds exits nobody waited for yet, so a waiter that registers
	// after the process ended (a pid read from a pid file) still learns it.
	recent map[int]Exit
	order  []int
}

// NewReaper returns a reaper that has not started reaping.
func NewReaper() *Reaper {
	return &Reaper{waiters: map[int][]chan Exit{}, recent: map[int]Exit{}}
}

// Run makes the process a child subreaper and reaps on every SIGCHLD until
// stop is closed.
func (r *Reaper) Run(stop <-chan struct{}) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", err)
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, unix.SIGCHLD)
	go func() {
		defer signal.Stop(sigs)
		r.reap()
		for {
			select {
			case <-sigs:
				r.reap()
			case <-stop:
				return
			}
		}
	}()
	return nil
}

// reap collects every child that has exited.
func (r *Reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.dispatch(Exit{Pid: pid, Status: exitStatus(ws), At: time.Now()})
	}
}

func exitStatus(ws unix.WaitStatus) uint32 {
	if ws.Signaled() {
		return 128 + uint32(ws.Signal())
	}
	return uint32(ws.ExitStatus())
}

func (r *Reaper) dispatch(e Exit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if chans, ok := r.waiters[e.Pid]; ok {
		delete(r.waiters, e.Pid)
		for _, c := range chans {
			c <- e
		}
		return
	}
	r.remember(e)
}

func (r *Reaper) remember(e Exit) {
	if _, ok := r.recent[e.Pid]; !ok {
		r.order = append(r.order, e.Pid)
	}
	r.recent[e.Pid] = e
	for len(r.order) > maxRecent {
		delete(r.recent, r.order[0])
		r.order = r.order[1:]
	}
}

func (r *Reaper) forget(pid int) {
	delete(r.recent, pid)
	for i, p := range r.order {
		if p == pid {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}

// Start starts cmd and returns a channel that receives its exit. The
// registration happens under the same lock as dispatch, so an exit reaped
// between fork and registration cannot be lost. Never call cmd.Wait.
func (r *Reaper) Start(cmd *exec.Cmd) (<-chan Exit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	r.forget(pid) // an older process with the same pid
	c := make(chan Exit, 1)
	r.waiters[pid] = append(r.waiters[pid], c)
	return c, nil
}

// Wait returns a channel that receives the exit of pid, a process that
// is (or was, if its exit is still remembered) a child of the shim.
func (r *Reaper) Wait(pid int) <-chan Exit {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := make(chan Exit, 1)
	if e, ok := r.recent[pid]; ok {
		r.forget(pid)
		c <- e
		return c
	}
	r.waiters[pid] = append(r.waiters[pid], c)
	return c
}
