package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// floor runs `shimbench floor [-n N] [-label TEXT] BINARY`: one instance of
// BINARY alone (nothing shares its binary's pages, so PSS is about RSS), then
// n-1 more, and prints the first one's memory and the mean of all n. Each
// instance is started as `BINARY SOCKET` in a temporary directory, is idle
// (never connected to: a floor), and is stopped by SIGTERM, after which it
// must exit 0.
func floor(args []string) error {
	fs := flag.NewFlagSet("shimbench floor", flag.ContinueOnError)
	n := fs.Int("n", 50, "instances running at once")
	label := fs.String("label", "", "the lines' label (default: BINARY's name)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *n < 1 {
		return errors.New("usage: shimbench floor [-n N>0] [-label TEXT] BINARY")
	}
	bin := fs.Arg(0)
	if *label == "" {
		*label = filepath.Base(bin)
	}
	if _, err := exec.LookPath(bin); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sbf")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var procs []*floorProc
	defer func() { stopAll(procs) }() // after an error: stopping's own is of no interest
	start := func(k int) error {
		for i := len(procs); i < k; i++ {
			p, err := startFloor(bin, filepath.Join(dir, fmt.Sprintf("%d.sock", i)))
			if err != nil {
				return err
			}
			procs = append(procs, p)
		}
		for _, p := range procs {
			if err := p.waitSocket(5 * time.Second); err != nil {
				return err
			}
		}
		time.Sleep(2 * time.Second) // as for the shims: settled, idle
		return nil
	}

	if err := start(1); err != nil {
		return err
	}
	alone, err := readMem(procs[0].cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("%s, one alone:   %v\n", *label, alone)

	if err := start(*n); err != nil {
		return err
	}
	var sum mem
	for _, p := range procs {
		m, err := readMem(p.cmd.Process.Pid)
		if err != nil {
			return err
		}
		sum = sum.add(m)
	}
	fmt.Printf("%s, mean of %d running:   %s\n", *label, *n, sum.meanOf(*n))

	err = stopAll(procs)
	procs = nil
	return err
}

// floorProc is one running instance of a floor program.
type floorProc struct {
	cmd  *exec.Cmd
	sock string
	done chan struct{} // closed when it has exited; then err is Wait's
	err  error
}

func startFloor(bin, sock string) (*floorProc, error) {
	p := &floorProc{cmd: exec.Command(bin, sock), sock: sock, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitSocket waits until the socket exists: it is looked at, not connected
// to, so that the program stays as idle as it started.
func (p *floorProc) waitSocket(timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		if st, err := os.Stat(p.sock); err == nil && st.Mode()&os.ModeSocket != 0 {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s %s exited before its socket appeared (%v)", p.cmd.Path, p.sock, p.cmd.ProcessState)
		case <-deadline:
			return fmt.Errorf("%s %s (pid %d): no socket after %v", p.cmd.Path, p.sock, p.cmd.Process.Pid, timeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stopAll sends SIGTERM to all and waits for them; it kills those that have
// not exited 5 s later.
func stopAll(procs []*floorProc) error {
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	var errs []error
	for _, p := range procs {
		select {
		case <-p.done:
			if p.err != nil {
				errs = append(errs, fmt.Errorf("%s (pid %d) on SIGTERM: %v", p.cmd.Path, p.cmd.Process.Pid, p.err))
			}
		case <-time.After(time.Until(deadline)):
			p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("%s (pid %d) did not exit on SIGTERM; killed", p.cmd.Path, p.cmd.Process.Pid))
		}
	}
	return errors.Join(errs...)
}
