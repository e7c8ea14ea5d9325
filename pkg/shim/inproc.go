package shim

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/berthd/berth/pkg/trace"
)

// inProcess runs berth's runtime's create, start, kill and delete in the
// shim's own process (package container), where a runtime process per
// container would otherwise start up, fault in its heap and exit: a Go
// process is most of what a command costs on the start path (docs/
// performance.md, "One Go process less per container"). The state is the
// runtime's, under the same root, so `runtime state`, `exec`, `pause`, the
// shim's cleanup after a crash and every other caller of the runtime's
// command line see the same container. Every other command, and a
// container whose spec needs a runtime process of its own (hooks,
// namespaces joined before init's set-up: container.ErrOwnProcess), goes
// to the runtime's command line as before.
//
// The package's process-wide state (its trace, the init started ahead,
// the helper's directory) makes its calls one at a time: inProcessMu.
type inProcess struct {
	root string // the runtime's --root
	name string // the runtime's name in messages, as the command line's
	// own: the container was created here, so its start, kill and delete
	// are made here too (one created by the command line has hooks, or
	// joins namespaces early, which only the command line runs).
	own bool
}

var (
	// inProcessMu serialises what the shim runs of package container: a
	// shim is one container, but its spare's init started ahead is the
	// process's.
	inProcessMu sync.Mutex
	// initAheadOff: no init is to be started ahead any more, as a create
	// came or the container is another runtime's; one started after
	// (a spare's preparation that ran late) would wait for nothing.
	initAheadOff bool
)

// runtimeHelperDir is where berth's runtime binary is installed, with its
// container-side helper: where container.HelperDir must point for the
// shim to run that runtime's commands in its own process. A binary without
// the helper beside it is not berth's runtime (a caller that said so of
// runc, say): its commands go to its command line.
func runtimeHelperDir(binary string) (string, error) {
	p, err := exec.LookPath(binary)
	if err != nil {
		return "", err
	}
	if p, err = filepath.Abs(p); err != nil {
		return "", err
	}
	if p, err = filepath.EvalSymlinks(p); err != nil {
		return "", err
	}
	dir := filepath.Dir(p)
	if fi, err := os.Stat(filepath.Join(dir, container.InitHelper)); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("no %s beside it: not berth's runtime", container.InitHelper)
	}
	return dir, nil
}

// newInProcess returns the in-process runner for a shim whose runtime is
// binary, berth's (the supervisor says so with RuntimeStandby), or nil
// when the command line must be used: global runtime arguments or masks
// it would have to apply, or a helper directory already set for another
// binary (a spare started for it).
func newInProcess(binary, root string, args, mask []string) *inProcess {
	if len(args) > 0 || len(mask) > 0 {
		return nil
	}
	dir, err := runtimeHelperDir(binary)
	if err != nil {
		log.Printf("runtime %s: %v; using its command line", binary, err)
		return nil
	}
	inProcessMu.Lock()
	defer inProcessMu.Unlock()
	if !useHelperDirLocked(dir) {
		return nil
	}
	if root == "" {
		root = container.DefaultRoot
	}
	return &inProcess{root: root, name: filepath.Base(binary)}
}

// prepareInProcess readies this process to create a container of berth's
// runtime binary: its JSON codecs and the container's init started ahead
// (container.StartInitAhead). A spare shim does it while it waits; a
// failure only means the create starts its init itself.
func prepareInProcess(binary string) {
	dir, err := runtimeHelperDir(binary)
	if err != nil {
		log.Printf("runtime %s: %v", binary, err)
		return
	}
	inProcessMu.Lock()
	ours := useHelperDirLocked(dir)
	if ours {
		warmInProcessLocked()
	}
	inProcessMu.Unlock()
	if ours {
		// A spare has time: its one create's first-run costs too (pure
		// work, not under the lock a create takes).
		container.WarmCreate()
	}
}

// useHelperDirLocked makes dir the package's helper directory unless
// another one is set already (a spare started for another binary): it
// reports whether dir is the one.
func useHelperDirLocked(dir string) bool {
	if container.HelperDir == "" {
		container.HelperDir = dir
	}
	return container.HelperDir == dir
}

func warmInProcessLocked() {
	container.Warm()
	if initAheadOff {
		return
	}
	if err := container.StartInitAhead(); err != nil {
		log.Printf("warning: %v", err)
	}
}

// prepare is prepareInProcess for a shim given its container.
func (p *inProcess) prepare() {
	inProcessMu.Lock()
	defer inProcessMu.Unlock()
	warmInProcessLocked()
}

// dropInitAhead kills the init started ahead, and keeps one from being
// started, when the container is not created in this process after all.
func dropInitAhead() {
	inProcessMu.Lock()
	defer inProcessMu.Unlock()
	initAheadOff = true
	container.DropInitAhead()
}

// errCommandLine: the command is not one run in the shim's process.
var errCommandLine = errors.New("use the runtime's command line")

// run runs sub (the runtime's command line, as runtimeCLI builds it) in
// this process, its spans going to t, and init's stdio from io3. It
// returns errCommandLine for a command it does not run.
func (p *inProcess) run(t *trace.Trace, io3 *stdio, sub []string) error {
	cmd, flags, bools, id, extra, ok := parseSub(sub)
	if !ok {
		return errCommandLine
	}
	inProcessMu.Lock()
	defer inProcessMu.Unlock()
	if cmd != "create" && !p.own {
		return errCommandLine
	}
	if t != nil {
		container.Trace = trace.New(t.ID(), "runtime")
		defer func() {
			t.Add(container.Trace.Spans()...)
			container.Trace = nil
		}()
	}
	var err error
	switch cmd {
	case "create":
		if p.own {
			return errCommandLine // a second create: the runtime says it exists
		}
		initAheadOff = true // from here on, one would wait for nothing
		err = p.create(io3, flags, id)
		if err != nil {
			// Never to be used: a create that failed made nothing.
			container.DropInitAhead()
		}
		if errors.Is(err, container.ErrOwnProcess) {
			log.Printf("container %s: %v: creating it with the runtime's command line", id, err)
			return errCommandLine
		}
		p.own = err == nil
	case "start":
		err = container.Start(p.root, id)
	case "kill":
		sig := "SIGTERM"
		if len(extra) == 1 {
			sig = extra[0]
		}
		s, perr := container.ParseSignal(sig)
		if perr != nil {
			return fmt.Errorf("%s kill: %w", p.name, perr)
		}
		err = container.Kill(p.root, id, s, bools["--all"])
	case "delete":
		err = container.Delete(p.root, id, bools["--force"])
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", p.name, cmd, err)
	}
	return nil
}

func (p *inProcess) create(io3 *stdio, flags map[string]string, id string) error {
	o := container.CreateOpts{
		Root: p.root, ID: id, Bundle: flags["--bundle"], PidFile: flags["--pid-file"],
		ConsoleSocket: flags["--console-socket"], CallerReaps: true,
	}
	if !filepath.IsAbs(o.Bundle) || !filepath.IsAbs(o.PidFile) {
		// The command line resolves them against its working directory.
		return fmt.Errorf("bundle %q and pid file %q: %w", o.Bundle, o.PidFile, container.ErrOwnProcess)
	}
	if io3 != nil && io3.out != nil {
		o.Stdin, o.Stdout, o.Stderr = io3.in, io3.out, io3.err
	}
	if o.Stdin == nil || o.Stdout == nil || o.Stderr == nil {
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer devnull.Close()
		for _, f := range []**os.File{&o.Stdin, &o.Stdout, &o.Stderr} {
			if *f == nil {
				*f = devnull
			}
		}
	}
	_, err := container.Create(o)
	return err
}

// subFlags are the flags the shim gives the commands run in its process:
// with a value, or without (true when given).
var subFlags = map[string]map[string]bool{
	"create": {"--bundle": true, "--pid-file": true, "--console-socket": true},
	"start":  {},
	"kill":   {"--all": false},
	"delete": {"--force": false},
}

// parseSub splits sub into its command, flags and ID (and the arguments
// after it: kill's signal); ok is false for anything else.
func parseSub(sub []string) (cmd string, flags map[string]string, bools map[string]bool, id string, extra []string, ok bool) {
	if len(sub) == 0 {
		return
	}
	cmd = sub[0]
	known, found := subFlags[cmd]
	if !found {
		return
	}
	flags, bools = map[string]string{}, map[string]bool{}
	rest := sub[1:]
	for len(rest) > 0 && len(rest[0]) > 2 && rest[0][:2] == "--" {
		takesValue, known := known[rest[0]]
		if !known {
			return
		}
		if takesValue {
			if len(rest) < 2 {
				return
			}
			flags[rest[0]] = rest[1]
			rest = rest[2:]
			continue
		}
		bools[rest[0]] = true
		rest = rest[1:]
	}
	if len(rest) == 0 || (cmd == "kill" && len(rest) > 2) || (cmd != "kill" && len(rest) > 1) {
		return
	}
	return cmd, flags, bools, rest[0], rest[1:], true
}
