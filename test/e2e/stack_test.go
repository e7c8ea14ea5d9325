// Package e2e runs the whole stack as a user would: the built binaries of
// supervisord and engined in a private temp root, driven by ctl and by the
// real docker CLI. It needs root and a real kernel.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
	"github.com/berthd/berth/test/image"
)

// binDir holds the binaries under test (make build puts them in bin/).
func binDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("BERTH_BIN_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "bin")
}

func requireStack(t *testing.T) {
	t.Helper()
	testprereq.Root(t)
	_, err := os.Stat(image.BusyboxPath)
	testprereq.Require(t, err == nil, "host busybox (busybox-static)")
	for _, b := range []string{"runtime", "shim", "supervisord", "engined", "ctl"} {
		_, err := os.Stat(filepath.Join(binDir(t), b))
		testprereq.Require(t, err == nil, "bin/%s (make build)", b)
	}
}

// stack is one private supervisord + engined pair.
type stack struct {
	t          *testing.T
	root       string
	supSock    string
	engSock    string
	supervisor *exec.Cmd
	engine     *exec.Cmd
	// bridge and table are the stack's own default bridge and nftables
	// table, so that stacks side by side do not share them.
	bridge, table string
	// engineArgs are added to engined's command line.
	engineArgs []string
	// supEnv and engEnv are added to the daemons' environments (a
	// failpoint armed in one of them).
	supEnv, engEnv []string
}

func newStack(t *testing.T) *stack { t.Helper(); return newStackArgs(t) }

// newStackArgs starts a stack whose engined gets extra arguments.
func newStackArgs(t *testing.T, engineArgs ...string) *stack {
	t.Helper()
	requireStack(t)
	// Short root: shim sockets live below it and unix socket paths are short.
	root, err := os.MkdirTemp("", "be")
	if err != nil {
		t.Fatal(err)
	}
	// 0711 as /var/lib/docker: a remapped container root resolves paths
	// below it.
	if err := os.Chmod(root, 0o711); err != nil {
		t.Fatal(err)
	}
	s := &stack{
		t:       t,
		root:    root,
		supSock: filepath.Join(root, "sup.sock"),
		engSock: filepath.Join(root, "eng.sock"),

		engineArgs: engineArgs,
	}
	suffix := filepath.Base(root)[2:]
	if len(suffix) > 10 {
		suffix = suffix[len(suffix)-10:]
	}
	s.bridge, s.table = "bt"+suffix, "berth_"+suffix
	t.Cleanup(s.cleanup)
	s.startSupervisor()
	s.startEngine()
	return s
}

func (s *stack) logFile(name string) *os.File {
	f, err := os.OpenFile(filepath.Join(s.root, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	return f
}

func (s *stack) startSupervisor() {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir(s.t), "supervisord"),
		"--root", filepath.Join(s.root, "sup"),
		"--state", filepath.Join(s.root, "run"),
		"--address", s.supSock,
		"--log-level", "debug")
	cmd.Env = append(os.Environ(), s.supEnv...)
	s.supervisor = s.daemon(cmd, "supervisord", s.supSock)
}

func (s *stack) startEngine() {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir(s.t), "engined"),
		"-H", "unix://"+s.engSock,
		"--data-root", filepath.Join(s.root, "eng"),
		"--exec-root", filepath.Join(s.root, "engrun"),
		"--supervisor", "unix://"+s.supSock,
		"--default-bridge", s.bridge, "--nft-table", s.table,
		"--log-level", "debug")
	cmd.Args = append(cmd.Args, s.engineArgs...)
	cmd.Env = append(os.Environ(), s.engEnv...)
	s.engine = s.daemon(cmd, "engined", s.engSock)
}

func (s *stack) daemon(cmd *exec.Cmd, name, sock string) *exec.Cmd {
	s.t.Helper()
	log := s.logFile(name)
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return cmd
		}
		select {
		case err := <-exited:
			s.t.Fatalf("%s exited before listening: %v\n%s", name, err, s.tail(name))
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.t.Fatalf("%s did not listen on %s\n%s", name, sock, s.tail(name))
	return nil
}

func (s *stack) tail(name string) string {
	// Debug lines (request and span logs) drown what explains a failure.
	b, _ := os.ReadFile(filepath.Join(s.root, name+".log"))
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, "level=DEBUG") {
			keep = append(keep, l)
		}
	}
	out := strings.Join(keep, "\n")
	if len(out) > 6000 {
		out = out[len(out)-6000:]
	}
	return out
}

// kill9 kills a daemon with SIGKILL, as a crash would.
func (s *stack) kill9(cmd *exec.Cmd) {
	s.t.Helper()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	for i := 0; i < 200; i++ {
		if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *stack) stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	for i := 0; i < 500; i++ {
		if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
}

// cleanup removes every container through the stack, stops the daemons and
// checks that nothing was left behind; leftovers are forced away and reported.
func (s *stack) cleanup() {
	t := s.t
	if t.Failed() {
		t.Logf("supervisord log:\n%s", s.tail("supervisord"))
		t.Logf("engined log:\n%s", s.tail("engined"))
	}
	if out, err := s.ctl("ps", "-aq").CombinedOutput(); err == nil {
		for _, id := range strings.Fields(string(out)) {
			_ = s.ctl("rm", "-f", id).Run()
		}
	}
	s.stop(s.engine)
	s.stop(s.supervisor)
	// Anything still here is a leak: report it, then clean it by force so one
	// failure does not spill into other tests.
	leaks := s.mountsUnder()
	for i := len(leaks) - 1; i >= 0; i-- {
		_ = syscall.Unmount(leaks[i], syscall.MNT_DETACH)
	}
	shims := s.processesUnder()
	for _, pid := range shims {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(leaks) > 0 && !t.Failed() {
		t.Errorf("mounts left under %s: %v", s.root, leaks)
	}
	if len(shims) > 0 && !t.Failed() {
		t.Errorf("processes left using %s: %v", s.root, shims)
	}
	s.cleanupNetwork()
	_ = os.RemoveAll(s.root)
}

// mountsUnder lists mount points below the stack's root.
func (s *stack) mountsUnder() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], s.root+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

// processesUnder lists processes whose command line names the stack's root
// (shims are started with their socket and state paths below it).
func (s *stack) processesUnder() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s.root+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ctl returns a ctl command against this stack's engined.
func (s *stack) ctl(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir(s.t), "ctl"), append([]string{"-H", "unix://" + s.engSock}, args...)...)
	cmd.Env = append(os.Environ(), "BERTH_HOST=")
	return cmd
}

// run runs ctl and returns stdout, stderr and the exit code.
func (s *stack) run(args ...string) (string, string, int) {
	s.t.Helper()
	cmd := s.ctl(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		code := 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				s.t.Fatalf("ctl %v: %v", args, err)
			}
			code = ee.ExitCode()
		}
		return stdout.String(), stderr.String(), code
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		s.t.Fatalf("ctl %v timed out; stdout %q stderr %q", args, stdout.String(), stderr.String())
		return "", "", -1
	}
}

// mustRun runs ctl and fails the test unless it exits 0.
func (s *stack) mustRun(args ...string) string {
	s.t.Helper()
	out, errOut, code := s.run(args...)
	if code != 0 {
		s.t.Fatalf("ctl %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

// loadBusybox loads the offline busybox image through ctl load.
func (s *stack) loadBusybox() {
	s.t.Helper()
	tarPath := filepath.Join(s.root, "busybox.tar")
	if err := image.WriteDockerArchive(tarPath, "busybox:latest"); err != nil {
		s.t.Fatal(err)
	}
	out := s.mustRun("load", "-i", tarPath)
	if !strings.Contains(out, "busybox:latest") {
		s.t.Fatalf("load output does not name the image: %q", out)
	}
}

// http sends a raw request to engined's socket.
func (s *stack) http(method, path, contentType string, body []byte) (int, string) {
	s.t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", s.engSock)
	}}, Timeout: 30 * time.Second}
	req, err := http.NewRequest(method, "http://engine"+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
