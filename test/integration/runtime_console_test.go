package integration

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// recvPtyMaster accepts one connection on l and receives the fd sent on it.
func recvPtyMaster(t *testing.T, l *net.UnixListener) <-chan *os.File {
	ch := make(chan *os.File, 1)
	go func() {
		defer close(ch)
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, syscall.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) == 0 {
			return
		}
		fds, err := syscall.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) == 0 {
			return
		}
		ch <- os.NewFile(uintptr(fds[0]), "pty-master")
	}()
	return ch
}

func TestRuntimeConsoleSocket(t *testing.T) {
	e := newRtEnv(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		// The process must start at the caller's size, not 0x0.
		s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 111}
	}, "sh", "-c", "tty; stty size; echo hello-tty")
	id := "console"
	e.cleanup(t, id)
	sock := filepath.Join(e.dir, "c.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	masterCh := recvPtyMaster(t, l)
	e.must(t, "create", "--bundle", e.bundle, "--console-socket", sock, id)
	var master *os.File
	select {
	case master = <-masterCh:
	case <-time.After(5 * time.Second):
	}
	if master == nil {
		t.Fatal("no pty master received on the console socket")
	}
	defer master.Close()
	e.must(t, "start", id)
	var out strings.Builder
	buf := make([]byte, 1024)
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !strings.Contains(out.String(), "hello-tty") {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(out.String(), "/dev/pts/0") || !strings.Contains(out.String(), "33 111") || !strings.Contains(out.String(), "hello-tty") {
		t.Fatalf("terminal output %q", out.String())
	}
}

func TestRuntimeExecTerminal(t *testing.T) {
	e := newRtEnv(t, nil, "sleep", "100")
	id := "exectty"
	e.cleanup(t, id)
	e.must(t, "run", "-d", id)
	sock := filepath.Join(e.dir, "e.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	masterCh := recvPtyMaster(t, l)
	out, errOut, code := e.cmd(t, nil, "exec", "-t", "--console-socket", sock, id, "sh", "-c", "tty; echo exec-tty")
	if code != 0 {
		t.Fatalf("exec -t: exit %d: %s%s", code, out, errOut)
	}
	master := <-masterCh
	if master == nil {
		t.Fatal("no pty master received")
	}
	defer master.Close()
	var got strings.Builder
	buf := make([]byte, 1024)
	for {
		n, err := master.Read(buf)
		got.Write(buf[:n])
		if err != nil || strings.Contains(got.String(), "exec-tty") {
			break
		}
	}
	if !strings.Contains(got.String(), "/dev/pts/") || !strings.Contains(got.String(), "exec-tty") {
		t.Fatalf("exec terminal output %q", got.String())
	}
}
