package standby

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const helperEnv = "BERTH_STANDBY_TEST_HELPER"

// TestMain makes this binary, with helperEnv set, a standby runtime that
// prints its command's arguments and $GREETING on the stdout it is given.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "session" {
		os.Exit(sessionHelper())
	}
	if os.Getenv(helperEnv) != "" {
		var c Command
		w, err := Listen(FD)
		if err == nil {
			c, err = w.Next()
		}
		args := c.Args
		if errors.Is(err, ErrDropped) {
			fmt.Println("dropped")
			os.Exit(0)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		wd, _ := os.Getwd()
		fmt.Println(strings.Join(args, " "), os.Getenv("GREETING"), wd)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sessionHelper runs commands as a session does: each prints its
// arguments and $GREETING; "fail" exits 3.
func sessionHelper() int {
	w, err := Listen(FD)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		c, err := w.Next()
		if errors.Is(err, ErrDropped) {
			return 0
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(strings.Join(c.Args, " "), os.Getenv("GREETING"))
		if c.Args[0] == "fail" {
			return 3
		}
		if !c.Keep {
			return 0
		}
	}
}

// readyHelper starts the standby helper on a new socket pair and waits for
// its ready byte; ours is the caller's end.
func readyHelper(t *testing.T) (ours *os.File, cmd *exec.Cmd, out *bytes.Buffer) {
	t.Helper()
	ours, theirs, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ours.Close() })
	cmd, out = helper(t, theirs)
	if err := WaitReady(ours); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return ours, cmd, out
}

// helper starts the standby helper with fd3 as its fd 3; its own stdout and
// stderr are captured in out.
func helper(t *testing.T, fd3 *os.File) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	mode := os.Getenv(helperEnv) // set by the test: "session"
	if mode == "" {
		mode = "1"
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "GREETING=inherited")
	cmd.ExtraFiles = []*os.File{fd3}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fd3.Close()
	return cmd, &out
}

func TestStandbyRunsItsCommand(t *testing.T) {
	ours, cmd, early := readyHelper(t)
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	dir := t.TempDir()
	err = Send(ours, Command{Args: []string{"create", "--bundle", "/b", "c1"}, Env: []string{"GREETING=hello=there"}, Dir: dir}, devnull, wr, wr)
	wr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, early)
	}
	buf := make([]byte, 256)
	n, _ := rd.Read(buf)
	if got := string(buf[:n]); got != "create --bundle /b c1 hello=there "+dir+"\n" {
		t.Errorf("the command printed %q on the passed stdout (and %q on its own)", got, early)
	}
}

// A session runs one command after the other: each one's Ready comes once
// its stdout is closed (its reader sees the end) and its environment undone.
func TestStandbySession(t *testing.T) {
	t.Setenv(helperEnv, "session")
	ours, cmd, own := readyHelper(t)
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	run := func(c Command) string {
		t.Helper()
		rd, wr, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		err = Send(ours, c, devnull, wr, wr)
		wr.Close()
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(rd) // to its end: the helper let go of it
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if got := run(Command{Args: []string{"create", "c1"}, Env: []string{"GREETING=hello"}, Keep: true}); got != "create c1 hello\n" {
		t.Errorf("first command printed %q", got)
	}
	if err := WaitReady(ours); err != nil {
		t.Fatalf("after a kept command: %v (%q)", err, own)
	}
	if got := run(Command{Args: []string{"start", "c1"}, Keep: true}); got != "start c1 inherited\n" {
		t.Errorf("second command printed %q (its environment is the standby's own)", got)
	}
	if err := WaitReady(ours); err != nil {
		t.Fatal(err)
	}
	if got := run(Command{Args: []string{"fail"}, Keep: true}); got != "fail inherited\n" {
		t.Errorf("third command printed %q", got)
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("a failed kept command: %v, want its exit status 3", err)
	}
	if err := WaitReady(ours); err == nil {
		t.Error("ready after a failed command")
	}
}

func TestStandbyDropped(t *testing.T) {
	ours, theirs, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	cmd, out := helper(t, theirs)
	ours.Close()
	if err := cmd.Wait(); err != nil || out.String() != "dropped\n" {
		t.Errorf("dropped standby: %v, %q", err, out)
	}
}

func TestStandbyRefusesBadInput(t *testing.T) {
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	// stderr is where the command's errors go once its stdio is in place.
	rd, stderr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	defer stderr.Close()
	for _, tc := range []struct {
		name     string
		send     func(ours *os.File) error
		want     string
		onStderr bool // the error is on the passed stderr, not the helper's own
	}{
		{"one fd", func(ours *os.File) error {
			return unix.Sendmsg(int(ours.Fd()), []byte(`{"args":["state","c1"]}`), unix.UnixRights(int(devnull.Fd())), nil, 0)
		}, "with 1 fds", false},
		{"four fds", func(ours *os.File) error {
			fd := int(devnull.Fd())
			return unix.Sendmsg(int(ours.Fd()), []byte(`{"args":["state","c1"]}`), unix.UnixRights(fd, fd, fd, fd), nil, 0)
		}, "with 4 fds", false},
		{"eight fds", func(ours *os.File) error {
			fd := int(devnull.Fd())
			return unix.Sendmsg(int(ours.Fd()), []byte(`{"args":["state","c1"]}`), unix.UnixRights(fd, fd, fd, fd, fd, fd, fd, fd), nil, 0)
		}, "more fds than stdin, stdout and stderr", false},
		{"too long", func(ours *os.File) error {
			fd := int(devnull.Fd())
			return unix.Sendmsg(int(ours.Fd()), make([]byte, maxMessage+1), unix.UnixRights(fd, fd, fd), nil, 0)
		}, "command over", false},
		{"no fds", func(ours *os.File) error {
			return unix.Sendmsg(int(ours.Fd()), []byte(`{"args":["state","c1"]}`), nil, nil, 0)
		}, "with 0 fds", false},
		{"bad json", func(ours *os.File) error {
			fd := int(devnull.Fd())
			return unix.Sendmsg(int(ours.Fd()), []byte(`{"args":`), unix.UnixRights(fd, fd, int(stderr.Fd())), nil, 0)
		}, "standby: command:", true},
		{"missing directory", func(ours *os.File) error {
			return Send(ours, Command{Args: []string{"state"}, Dir: "/nonexistent/dir"}, devnull, devnull, stderr)
		}, "working directory /nonexistent/dir", true},
		{"bad env", func(ours *os.File) error {
			return Send(ours, Command{Args: []string{"state"}, Env: []string{"NOEQUALS"}}, devnull, devnull, stderr)
		}, `"NOEQUALS" is not KEY=VALUE`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, cmd, out := readyHelper(t)
			if err := tc.send(ours); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			got := out.String()
			if tc.onStderr {
				buf := make([]byte, 512)
				n, _ := rd.Read(buf)
				got = string(buf[:n])
			}
			if err == nil || !strings.Contains(got, tc.want) {
				t.Errorf("standby given %s: %v, %q (want %q)", tc.name, err, got, tc.want)
			}
		})
	}
	t.Run("not a socket", func(t *testing.T) {
		rd, wr, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		cmd, out := helper(t, wr)
		if err := cmd.Wait(); err == nil || !strings.Contains(out.String(), "is not the caller's socket") {
			t.Errorf("standby without a socket: %v, %q", err, out)
		}
	})
	t.Run("not ready", func(t *testing.T) {
		ours, theirs, err := Pair()
		if err != nil {
			t.Fatal(err)
		}
		defer ours.Close()
		if _, err := theirs.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		theirs.Close()
		if err := WaitReady(ours); err == nil {
			t.Error("WaitReady took 'x' for the ready byte")
		}
	})
}
