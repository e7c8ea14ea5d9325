package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/runtime/standby"
	"github.com/berthd/berth/pkg/trace"
	"golang.org/x/sys/unix"
)

// fakeRuntimeEnv makes this test binary a runtime that appends a call
// record to the file it names: "standby" makes it wait as berth's runtime
// does, "standby=refuse" makes it fail that as runc does.
const fakeRuntimeEnv = "BERTH_SHIM_TEST_RUNTIME"

type runtimeCall struct {
	Pid     int  `json:"pid"`
	Standby bool `json:"standby"`
	// CreateNext: the standby was told the create comes first
	// (standby.ArgCreate).
	CreateNext bool     `json:"create_next"`
	Args       []string `json:"args"`
	Trace      string   `json:"trace"`
	Stdin      string   `json:"stdin"`
}

func TestMain(m *testing.M) {
	if v := os.Getenv(fakeRuntimeEnv); v != "" {
		os.Exit(fakeRuntimeMain(v))
	}
	os.Exit(m.Run())
}

func fakeRuntimeMain(calls string) int {
	args := os.Args[1:]
	createNext := len(args) == 2 && args[0] == standby.Arg && args[1] == standby.ArgCreate
	if !createNext && (len(args) != 1 || args[0] != standby.Arg) {
		return fakeRuntimeCommand(calls, args, false, false)
	}
	if os.Getenv(fakeRuntimeEnv+"_REFUSE") != "" {
		fmt.Fprintln(os.Stderr, "No help topic for 'standby'")
		return 1
	}
	w, err := standby.Listen(standby.FD)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		c, err := w.Next()
		if errors.Is(err, standby.ErrDropped) {
			return 0
		} else if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if st := fakeRuntimeCommand(calls, c.Args, true, createNext); st != 0 || !c.Keep {
			return st
		}
	}
}

func fakeRuntimeCommand(calls string, args []string, inStandby, createNext bool) int {
	in, _ := io.ReadAll(os.Stdin)
	b, _ := json.Marshal(runtimeCall{Pid: os.Getpid(), Standby: inStandby, CreateNext: createNext, Args: args, Trace: os.Getenv(trace.Env), Stdin: string(in)})
	f, err := os.OpenFile(calls, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 1
	}
	f.Write(append(b, '\n'))
	f.Close()
	if args[len(args)-1] == "slow" {
		time.Sleep(300 * time.Millisecond)
	}
	if args[len(args)-1] == "fail" {
		fmt.Fprintln(os.Stderr, "boom: the runtime failed")
		return 3
	}
	return 0
}

func readCalls(t *testing.T, path string) []runtimeCall {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var calls []runtimeCall
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var c runtimeCall
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("call %q: %v", l, err)
		}
		calls = append(calls, c)
	}
	return calls
}

// fakeRuntimeCLI is a runtimeCLI running this test binary as the runtime.
func fakeRuntimeCLI(t *testing.T, standbyOK bool) (*runtimeCLI, string) {
	t.Helper()
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	t.Setenv(fakeRuntimeEnv, calls)
	if !standbyOK {
		t.Setenv(fakeRuntimeEnv+"_REFUSE", "1")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	reaper := NewReaper()
	stop := make(chan struct{})
	if err := reaper.Run(stop); err != nil {
		t.Fatal(err)
	}
	r := &runtimeCLI{binary: self, log: filepath.Join(dir, "runtime.log"), reaper: reaper, standby: true}
	t.Cleanup(func() {
		r.dropSpare(nil)
		close(stop)
	})
	return r, calls
}

func sparePid(r *runtimeCLI) int {
	r.spareMu.Lock()
	defer r.spareMu.Unlock()
	if r.spare == nil {
		return 0
	}
	return r.spare.proc.Pid
}

// A command goes to the runtime started ahead for it, with its stdio and
// the trace's environment; the create, start and kill of a container run in
// that one process (a session), which any other command, or a failure,
// ends; a failure's message comes back through the passed stderr.
func TestRuntimeStandby(t *testing.T) {
	r, calls := fakeRuntimeCLI(t, true)
	r.prepare(true) // a shim's first: the create comes next
	first := sparePid(r)
	if first == 0 {
		t.Fatal("prepare started no standby runtime")
	}
	r.prepare(false) // one is waiting: no second
	if p := sparePid(r); p != first {
		t.Fatalf("second prepare replaced the standby: %d, was %d", p, first)
	}

	in, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { io.WriteString(wr, "the container's input"); wr.Close() }()
	tr := trace.New(trace.NewID(), "shim")
	if err := r.runTraced(tr, &stdio{in: in}, "create", "--bundle", "b", "c1"); err != nil {
		t.Fatal(err)
	}
	in.Close()
	if p := sparePid(r); p != first {
		t.Fatalf("after a create: standby %d, want the create's own, %d", p, first)
	}
	if err := r.run(nil, "start", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := r.run(nil, "kill", "fail"); err == nil || !strings.Contains(err.Error(), "boom: the runtime failed") {
		t.Errorf("failing command: %v", err)
	}
	if p := sparePid(r); p != 0 {
		t.Errorf("standby %d after a failed command", p)
	}
	if err := r.run(nil, "delete", "c1"); err != nil {
		t.Fatal(err)
	}

	got := readCalls(t, calls)
	if len(got) != 4 {
		t.Fatalf("calls %+v", got)
	}
	create, start, kill, del := got[0], got[1], got[2], got[3]
	if !create.CreateNext {
		t.Errorf("create %+v: its standby was not told the create comes first (%s)", create, standby.ArgCreate)
	}
	if del.CreateNext {
		t.Errorf("delete %+v: its standby was told a create comes first", del)
	}
	if create.Pid != first || !create.Standby || strings.Join(create.Args[len(create.Args)-4:], " ") != "create --bundle b c1" ||
		create.Trace != tr.ID() || create.Stdin != "the container's input" {
		t.Errorf("create %+v, want pid %d in standby with trace %s", create, first, tr.ID())
	}
	if !strings.Contains(strings.Join(create.Args, " "), "--log "+r.log+" --log-format json") {
		t.Errorf("create args %q", create.Args)
	}
	if start.Pid != first || !start.Standby || start.Trace != "" {
		t.Errorf("start %+v, want pid %d in standby, untraced (the create's trace undone)", start, first)
	}
	if kill.Pid != first {
		t.Errorf("kill %+v, want pid %d", kill, first)
	}
	if del.Standby || del.Pid == first {
		t.Errorf("delete %+v: no standby was waiting, it must have been started anew", del)
	}
}

// A session ends with a command that is not a session's (an exec, a delete)
// or when dropped; the output of each command ends with it, although the
// process lives on.
func TestRuntimeStandbySession(t *testing.T) {
	r, calls := fakeRuntimeCLI(t, true)
	r.prepare(false)
	first := sparePid(r)
	for _, sub := range []string{"create", "start", "kill"} {
		// No io3: the output is captured and read to its end.
		done := make(chan error, 1)
		go func() { done <- r.run(nil, sub, "c1") }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(900 * time.Millisecond):
			t.Fatalf("%s: no end of its output while the session lives", sub)
		}
		if p := sparePid(r); p != first {
			t.Fatalf("after %s: standby %d, want %d", sub, p, first)
		}
	}
	// run waits for the exit of the process that ran its command.
	if err := r.run(nil, "exec", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(first, 0); err != unix.ESRCH {
		t.Errorf("the session %d after the exec: %v", first, err)
	}
	if p := sparePid(r); p != 0 {
		t.Errorf("standby %d after the exec", p)
	}
	got := readCalls(t, calls)
	if len(got) != 4 {
		t.Fatalf("calls %+v", got)
	}
	for _, c := range got {
		if c.Pid != first {
			t.Errorf("call %+v, want all in %d", c, first)
		}
	}

	// While a command runs in the session, none is started: the session
	// comes back as the next standby.
	r.prepare(false)
	second := sparePid(r)
	done := make(chan error, 1)
	go func() { done <- r.run(nil, "create", "slow") }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r.spareMu.Lock()
		busy := r.inSession
		r.spareMu.Unlock()
		if busy == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the create did not start in the session")
		}
	}
	r.prepare(false)
	if p := sparePid(r); p != 0 {
		t.Errorf("standby %d started while the session ran a command", p)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := sparePid(r); p != second {
		t.Errorf("after the create: standby %d, want the session %d", p, second)
	}
	r.dropSpare(nil)

	// Dropped while it waits after a command.
	r.prepare(false)
	if err := r.run(nil, "create", "c2"); err != nil {
		t.Fatal(err)
	}
	r.spareMu.Lock()
	exited := r.spare.exited
	r.spareMu.Unlock()
	r.dropSpare(nil)
	select {
	case e := <-exited:
		if e.Status != 0 {
			t.Errorf("dropped session exited %d", e.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dropped session did not exit")
	}
}

// A standby that died, or a runtime that does not speak standby, costs a
// fresh start, never the command.
func TestRuntimeStandbyFallsBack(t *testing.T) {
	t.Run("killed", func(t *testing.T) {
		r, calls := fakeRuntimeCLI(t, true)
		r.prepare(false)
		r.spareMu.Lock()
		sp := r.spare
		r.spareMu.Unlock()
		if err := sp.proc.Kill(); err != nil {
			t.Fatal(err)
		}
		<-sp.exited // dead, whether or not it had written its ready byte
		if err := r.run(nil, "kill", "c1", "9"); err != nil {
			t.Fatal(err)
		}
		if got := readCalls(t, calls); len(got) != 1 || got[0].Standby || got[0].Pid == sp.proc.Pid {
			t.Errorf("calls %+v", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		r, calls := fakeRuntimeCLI(t, false)
		r.prepare(false)
		if err := r.run(nil, "state", "c1"); err != nil {
			t.Fatal(err)
		}
		if got := readCalls(t, calls); len(got) != 1 || got[0].Standby {
			t.Errorf("calls %+v", got)
		}
	})
}

// A standby nobody gave a command exits when dropped, or by itself after
// standbyIdle.
func TestRuntimeStandbyExpires(t *testing.T) {
	r, calls := fakeRuntimeCLI(t, true)
	defer func(d time.Duration) { standbyIdle = d }(standbyIdle)
	standbyIdle = 50 * time.Millisecond
	r.prepare(false)
	r.spareMu.Lock()
	sp := r.spare
	r.spareMu.Unlock()
	select {
	case e := <-sp.exited:
		if e.Status != 0 {
			t.Errorf("expired standby exited with %d", e.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the standby runtime did not exit after standbyIdle")
	}
	if sparePid(r) != 0 {
		t.Error("an expired standby is still offered")
	}
	if got := readCalls(t, calls); len(got) != 0 {
		t.Errorf("an expired standby ran %+v", got)
	}

	standbyIdle = time.Hour
	r.prepare(false)
	r.spareMu.Lock()
	sp = r.spare
	r.spareMu.Unlock()
	r.dropSpare(nil)
	select {
	case <-sp.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the dropped standby runtime did not exit")
	}
}
