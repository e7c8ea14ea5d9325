package shim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/runtime/standby"
	"github.com/berthd/berth/pkg/trace"
)

// runtimeCLI runs the OCI runtime's command line (runc-compatible).
type runtimeCLI struct {
	binary string
	root   string
	args   []string
	log    string // the runtime's --log file, JSON lines
	reaper *Reaper
	mask   []string // files masked in the runtime's mount namespace (DefaultMasks)
	// standby: the runtime is berth's, which can be started ahead of a
	// command that is likely to come soon (package standby).
	standby bool
	// inproc runs berth's runtime's commands of a container's life in
	// this process (nil: the command line only).
	inproc *inProcess

	spareMu sync.Mutex
	spare   *standbyRuntime // started ahead, not yet given a command
	// inSession counts the commands running in a session: each gives the
	// session back as the next standby (keep), so none is to be started.
	inSession int
}

// standbyRuntime is a runtime process started as `runtime standby`.
type standbyRuntime struct {
	binary string
	conn   *os.File // our end of its socket
	exited <-chan Exit
	proc   *os.Process
	expiry *time.Timer // drops it when no command came in standbyIdle
	// ready: its Ready byte was read (a session's, after a command).
	ready bool
}

// sessionCommands are the commands a standby runtime goes on from (Keep):
// they start no process that could stay the runtime's child (init is the
// shim's, standby.Command), and the next command of the container comes
// soon: the start after the create, the delete after the start or kill of a
// short-lived container. Any other command ends the session it runs in.
var sessionCommands = map[string]bool{"create": true, "start": true, "kill": true}

// standbyIdle is how long a standby runtime waits for its command: the
// commands it is started for come within milliseconds on the start path; a
// `docker create` started later spawns its runtime anew. A session waits
// as long after each command.
var standbyIdle = 5 * time.Second

// prepare starts a standby runtime for the next command, unless the runtime
// is not berth's or one is already waiting. It is best effort: a failure
// only means the next command starts its runtime itself. createNext says
// the next command is the container's create (standby.ArgCreate).
func (r *runtimeCLI) prepare(createNext bool) {
	if !r.standby {
		return
	}
	if createNext && r.inproc != nil {
		go r.inproc.prepare()
		return
	}
	r.spareMu.Lock()
	defer r.spareMu.Unlock()
	if r.spare != nil || r.inSession > 0 {
		return
	}
	sp, err := startStandby(r.reaper, r.binary, r.mask, createNext)
	if err != nil {
		log.Printf("%v", err)
		return
	}
	r.adoptLocked(sp)
}

// adopt makes sp the waiting standby runtime (one started by a spare shim
// before it knew its container), unless the runtime is not berth's or is
// not sp's binary: then sp is closed.
func (r *runtimeCLI) adopt(sp *standbyRuntime) {
	if !r.standby || filepath.Clean(sp.binary) != filepath.Clean(r.binary) {
		sp.close()
		return
	}
	r.spareMu.Lock()
	defer r.spareMu.Unlock()
	if r.spare != nil {
		sp.close()
		return
	}
	r.adoptLocked(sp)
}

func (r *runtimeCLI) adoptLocked(sp *standbyRuntime) {
	sp.expiry = time.AfterFunc(standbyIdle, func() { r.dropSpare(sp) })
	r.spare = sp
}

// keep makes sp, a session that has run a command and is ready for the
// next, the waiting standby runtime, in place of one started meanwhile.
func (r *runtimeCLI) keep(sp *standbyRuntime) {
	r.spareMu.Lock()
	defer r.spareMu.Unlock()
	r.inSession--
	if old := r.spare; old != nil {
		old.close()
	}
	sp.ready = true
	r.adoptLocked(sp)
}

// startStandby starts `binary standby` as a child reaped by reaper.
func startStandby(reaper *Reaper, binary string, mask []string, createNext bool) (*standbyRuntime, error) {
	ours, theirs, err := standby.Pair()
	if err != nil {
		return nil, fmt.Errorf("standby runtime: %w", err)
	}
	defer theirs.Close()
	self, _ := os.Executable()
	args := []string{standby.Arg}
	if createNext {
		args = append(args, standby.ArgCreate)
	}
	cmd := RuntimeCommand(self, binary, mask, args...)
	cmd.Dir = "/"                       // each command says where it runs
	cmd.ExtraFiles = []*os.File{theirs} // fd 3 (standby.FD)
	exited, err := reaper.Start(cmd)
	if err != nil {
		ours.Close()
		return nil, fmt.Errorf("standby runtime: %w", err)
	}
	return &standbyRuntime{binary: binary, conn: ours, exited: exited, proc: cmd.Process}, nil
}

func (sp *standbyRuntime) close() {
	if sp.expiry != nil {
		sp.expiry.Stop()
	}
	sp.conn.Close()
	sp.proc.Release()
}

// endSession counts out a session command that gave no session back.
func (r *runtimeCLI) endSession() {
	r.spareMu.Lock()
	r.inSession--
	r.spareMu.Unlock()
}

// takeSpare returns the waiting standby runtime once it is ready, or nil
// when there is none or it ended. The wait for its ready byte is a span of
// t: near zero when the standby was started early enough.
func (r *runtimeCLI) takeSpare(t *trace.Trace) *standbyRuntime {
	r.spareMu.Lock()
	sp := r.spare
	r.spare = nil
	r.spareMu.Unlock()
	if sp == nil {
		return nil
	}
	if !sp.expiry.Stop() {
		// Expiring as we took it: dropSpare no longer finds it to close.
		sp.close()
		return nil
	}
	end := t.Begin("standby runtime ready")
	var err error
	if !sp.ready {
		err = standby.WaitReady(sp.conn)
	}
	end()
	if err != nil {
		log.Printf("%v; starting the runtime anew", err)
		sp.close()
		return nil
	}
	return sp
}

// dropSpare ends sp if it is still the waiting standby runtime (nil: any):
// closing its socket makes it exit.
func (r *runtimeCLI) dropSpare(sp *standbyRuntime) {
	r.spareMu.Lock()
	if r.spare == nil || (sp != nil && r.spare != sp) {
		r.spareMu.Unlock()
		return
	}
	sp = r.spare
	r.spare = nil
	r.spareMu.Unlock()
	sp.close()
}

// launch runs args (sub's) in the waiting standby runtime, or in a runtime
// started for it, with stdio (each non-nil) and, when set, the trace's
// environment. The channel gets the command's end: the exit of its
// process, or, for a session's command that succeeded, status 0 once the
// session waits for the next (then the waiting standby). session says
// which.
func (r *runtimeCLI) launch(t *trace.Trace, sub string, args []string, stdin, stdout, stderr *os.File) (done <-chan Exit, session bool, err error) {
	if sp := r.takeSpare(t); sp != nil {
		var env []string
		if t != nil {
			env = []string{trace.Env + "=" + t.ID()}
		}
		keep := sessionCommands[sub]
		if keep {
			r.spareMu.Lock()
			r.inSession++
			r.spareMu.Unlock()
		}
		err := standby.Send(sp.conn, standby.Command{Args: args, Env: env, Dir: filepath.Dir(r.log), Keep: keep}, stdin, stdout, stderr)
		if err == nil {
			if !keep {
				sp.close()
				return sp.exited, false, nil
			}
			sp.ready = false
			pid := sp.proc.Pid // once kept, sp is another command's to close
			done := make(chan Exit, 1)
			go func() {
				if standby.WaitReady(sp.conn) == nil {
					r.keep(sp)
					done <- Exit{Pid: pid, At: time.Now()}
					return
				}
				// The command failed (or the runtime died): its exit says.
				e := <-sp.exited
				sp.close()
				r.endSession()
				done <- e
			}()
			return done, true, nil
		}
		// It ended between its ready byte and the command: nothing ran.
		log.Printf("%v; starting the runtime anew", err)
		sp.close()
		if keep {
			r.endSession()
		}
	}
	self, _ := os.Executable()
	cmd := RuntimeCommand(self, r.binary, r.mask, args...)
	cmd.Dir = filepath.Dir(r.log)
	if t != nil {
		cmd.Env = traceEnv(t)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	exited, err := r.reaper.Start(cmd)
	if err != nil {
		return nil, false, err
	}
	// The reaper waits for it; the handle is not used.
	cmd.Process.Release()
	return exited, false, nil
}

// stdio is the standard input, output and error of a runtime invocation;
// nil means /dev/null for stdin and a captured pipe for the others, and so
// does a nil out (with in as stdin, when set).
type stdio struct {
	in, out, err *os.File
}

// run executes the runtime with sub (the subcommand and its arguments) and
// waits for it through the reaper. A failure carries the runtime's own
// message, taken from its log (or its output when the log has none).
//
// A runtime invocation is never abandoned half-way (a cancelled RPC must
// not leave a half-created container), so there is no context.
func (r *runtimeCLI) run(io3 *stdio, sub ...string) error {
	return r.runTraced(nil, io3, sub...)
}

// runTraced is run as a span of t (nil: untraced), which also gets the
// runtime's own spans.
func (r *runtimeCLI) runTraced(t *trace.Trace, io3 *stdio, sub ...string) error {
	defer t.Begin("runtime " + sub[0])()
	if r.inproc != nil {
		if err := r.inproc.run(t, io3, sub); !errors.Is(err, errCommandLine) {
			return err
		}
	}
	args := []string{}
	if r.root != "" {
		args = append(args, "--root", r.root)
	}
	args = append(args, "--log", r.log, "--log-format", "json")
	args = append(args, r.args...)
	args = append(args, sub...)

	logStart := fileSize(r.log)
	if t != nil {
		defer func() { t.Add(runtimeSpans(r.log, logStart)...) }()
	}
	var stdin, stdout, stderr *os.File
	var out, wr *os.File // the captured output's read and write ends
	if io3 != nil && io3.out != nil {
		stdin, stdout, stderr = io3.in, io3.out, io3.err
	} else {
		var err error
		if out, wr, err = os.Pipe(); err != nil {
			return err
		}
		defer out.Close()
		defer wr.Close()
		stdout, stderr = wr, wr
		if io3 != nil && io3.in != nil {
			stdin = io3.in
		}
	}
	if stdin == nil || stdout == nil || stderr == nil {
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer devnull.Close()
		for _, f := range []**os.File{&stdin, &stdout, &stderr} {
			if *f == nil {
				*f = devnull
			}
		}
	}
	exited, session, err := r.launch(t, sub[0], args, stdin, stdout, stderr)
	if err != nil {
		return fmt.Errorf("run %s %s: %w", r.binary, sub[0], err)
	}
	if sub[0] == "create" && !session {
		// A start follows a create, on the start path within milliseconds:
		// have its runtime start up while this one works (a session's runs
		// the start itself).
		r.prepare(false)
	}
	outc := make(chan []byte, 1)
	if out != nil {
		wr.Close()
		go func() {
			b, _ := io.ReadAll(io.LimitReader(out, 64<<10))
			outc <- b
		}()
	}
	e := <-exited
	var output []byte
	if out != nil {
		select {
		case output = <-outc:
		case <-time.After(time.Second): // a child of the runtime holds the pipe
		}
	}
	if e.Status == 0 {
		return nil
	}
	msg := lastRuntimeError(r.log, logStart)
	if msg == "" {
		msg = strings.TrimSpace(string(output))
	}
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", e.Status)
	}
	return fmt.Errorf("%s %s: %s", filepath.Base(r.binary), sub[0], msg)
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// lastRuntimeError returns the message of the last "error" (or "fatal")
// entry the runtime logged after offset.
func lastRuntimeError(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	var msg string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(line, &entry) != nil {
			if len(line) > 0 {
				msg = string(line)
			}
			continue
		}
		if entry.Level == "error" || entry.Level == "fatal" {
			msg = entry.Msg
		}
	}
	return msg
}
