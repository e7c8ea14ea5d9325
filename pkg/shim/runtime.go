package shim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

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
	args := []string{}
	if r.root != "" {
		args = append(args, "--root", r.root)
	}
	args = append(args, "--log", r.log, "--log-format", "json")
	args = append(args, r.args...)
	args = append(args, sub...)
	self, _ := os.Executable()
	cmd := RuntimeCommand(self, r.binary, r.mask, args...)
	cmd.Dir = filepath.Dir(r.log)
	if t != nil {
		cmd.Env = traceEnv(t)
	}

	logStart := fileSize(r.log)
	if t != nil {
		defer func() { t.Add(runtimeSpans(r.log, logStart)...) }()
	}
	var out *os.File // read end of the captured output
	if io3 != nil && io3.out != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = io3.in, io3.out, io3.err
	} else {
		rd, wr, err := os.Pipe()
		if err != nil {
			return err
		}
		defer rd.Close()
		defer wr.Close()
		cmd.Stdout, cmd.Stderr = wr, wr
		out = rd
		if io3 != nil && io3.in != nil {
			cmd.Stdin = io3.in
		} else {
			devnull, err := os.Open(os.DevNull)
			if err != nil {
				return err
			}
			defer devnull.Close()
			cmd.Stdin = devnull
		}
	}
	exited, err := r.reaper.Start(cmd)
	if err != nil {
		return fmt.Errorf("run %s %s: %w", r.binary, sub[0], err)
	}
	defer cmd.Process.Release()
	outc := make(chan []byte, 1)
	if out != nil {
		cmd.Stdout.(*os.File).Close()
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
