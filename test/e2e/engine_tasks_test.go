package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/testprereq"
)

// ptySession runs a command on the slave side of a new pty, as a terminal
// user would: its own session with the pty as controlling terminal.
type ptySession struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
}

func startPty(t *testing.T, env []string, rows, cols uint16, name string, args ...string) *ptySession {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &ptySession{t: t, master: master, cmd: cmd, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				close(p.done)
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		master.Close()
	})
	return p
}

func (p *ptySession) send(s string) {
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// expect waits for re to match the output after from, and returns the
// end of the match.
func (p *ptySession) expect(from int, re string) (int, []string) {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.mu.Lock()
		out := p.out.String()
		p.mu.Unlock()
		if from > len(out) {
			from = len(out)
		}
		if loc := rx.FindStringSubmatchIndex(out[from:]); loc != nil {
			var groups []string
			for i := 0; i+1 < len(loc); i += 2 {
				groups = append(groups, out[from+loc[i]:from+loc[i+1]])
			}
			return from + loc[1], groups
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %q in the terminal output:\n%q", re, out[from:])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *ptySession) resize(rows, cols uint16) {
	if err := unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		p.t.Fatal(err)
	}
}

// wait returns the command's exit code.
func (p *ptySession) wait() int {
	p.t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		p.t.Fatalf("%v did not exit; output %q", p.cmd.Args, p.out.String())
		return -1
	}
}

func (s *stack) ctlEnv() []string { return append(os.Environ(), "BERTH_HOST=unix://"+s.engSock) }

func (s *stack) ctlPath() string { return filepath.Join(binDir(s.t), "ctl") }

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *stack) inspectField(id, format string) string {
	s.t.Helper()
	return strings.TrimSpace(s.mustRun("inspect", "-f", format, id))
}

// ctl run -it: a real tty in the container, the terminal's size at start
// and after a resize (SIGWINCH), its exit code, and ctrl-p ctrl-q detaching.
func TestEngineRunTTY(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()

	p := startPty(t, s.ctlEnv(), 30, 90, s.ctlPath(), "run", "-it", "--name", "tty1", "busybox", "sh")
	at, _ := p.expect(0, `# `)
	p.send("tty; stty size\r")
	at, g := p.expect(at, `(/dev/pts/\d+)\r?\n`)
	t.Logf("tty: %s", g[1])
	at, _ = p.expect(at, `30 90\r?\n`)
	p.resize(50, 120)
	// The resize travels asynchronously: ask until the container sees it.
	for i := 0; ; i++ {
		p.send("stty size\r")
		next, g := p.expect(at, `\n(\d+ \d+)\r?\n`)
		at = next
		if g[1] == "50 120" {
			break
		}
		if i == 50 {
			t.Fatalf("resize did not reach the container: %s", g[1])
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.send("exit 6\r")
	if code := p.wait(); code != 6 {
		t.Errorf("ctl run -it exit code %d, want 6", code)
	}

	// Detach keys: the session ends, the container runs on.
	p = startPty(t, s.ctlEnv(), 24, 80, s.ctlPath(), "run", "-it", "--name", "tty2", "busybox", "sh")
	at, _ = p.expect(0, `# `)
	p.send("echo marker-$((6*7))\r")
	p.expect(at, `marker-42`)
	p.send("\x10\x11")
	if code := p.wait(); code != 0 {
		t.Errorf("detach: ctl exit code %d", code)
	}
	if st := s.inspectField("tty2", "{{.State.Running}}"); st != "true" {
		t.Errorf("after detach the container is not running: %s", st)
	}
	// ctl attach takes the session back.
	p = startPty(t, s.ctlEnv(), 24, 80, s.ctlPath(), "attach", "tty2")
	p.send("echo back-$((1+1))\r")
	p.expect(0, `back-2`)
	p.send("exit 0\r")
	if code := p.wait(); code != 0 {
		t.Errorf("ctl attach exit code %d", code)
	}

	// run -i without a tty: stdin piped, closed at its end (StdinOnce).
	cmd := s.ctl("run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z")
	cmd.Stdin = strings.NewReader("piped in\n")
	if b, err := cmd.Output(); err != nil || string(b) != "PIPED IN\n" {
		t.Errorf("run -i: %q %v", b, err)
	}
}

// ctl exec and the docker CLI's exec, plain and with a tty.
func TestEngineExec(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustRun("run", "-d", "--name", "ex", "-e", "FROMRUN=1", "busybox", "sleep", "300")

	out := s.mustRun("exec", "-e", "A=b", "-u", "1000:1001", "-w", "/tmp", "ex", "sh", "-c", `echo "$A $FROMRUN $(id -u):$(id -g) $(pwd)"`)
	if out != "b 1 1000:1001 /tmp\n" {
		t.Errorf("exec output %q", out)
	}
	if _, _, code := s.run("exec", "ex", "sh", "-c", "exit 9"); code != 9 {
		t.Errorf("exec exit code %d, want 9", code)
	}
	cmd := s.ctl("exec", "-i", "ex", "sh", "-c", "tr a-z A-Z")
	cmd.Stdin = strings.NewReader("through stdin\n")
	if b, err := cmd.Output(); err != nil || string(b) != "THROUGH STDIN\n" {
		t.Errorf("exec -i: %q %v", b, err)
	}
	s.mustRun("exec", "-d", "ex", "sh", "-c", "echo detached > /tmp/d")
	eventually(t, "the detached exec's file", func() bool {
		o, _, code := s.run("exec", "ex", "cat", "/tmp/d")
		return code == 0 && o == "detached\n"
	})
	if top := s.mustRun("top", "ex"); !strings.Contains(top, "sleep 300") || !strings.Contains(top, "PID") {
		t.Errorf("top:\n%s", top)
	}

	docker, err := exec.LookPath("docker")
	testprereq.Require(t, err == nil, "docker CLI")
	denv := append(os.Environ(), "DOCKER_HOST=unix://"+s.engSock, "DOCKER_CONFIG="+filepath.Join(s.root, "dockercfg"))
	dcmd := exec.Command(docker, "exec", "ex", "sh", "-c", "echo via docker; exit 4")
	dcmd.Env = denv
	b, err := dcmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 || string(b) != "via docker\n" {
		t.Errorf("docker exec: %q %v", b, err)
	}
	dcmd = exec.Command(docker, "stats", "--no-stream", "ex")
	dcmd.Env = denv
	if b, err := dcmd.Output(); err != nil || !regexp.MustCompile(`ex\s+[\d.]+%\s+[\d.]+[KMG]iB / [\d.]+[KMG]iB\s+[\d.]+%.*\s1\n`).Match(b) {
		t.Errorf("docker stats --no-stream: %v\n%s", err, b)
	}
	p := startPty(t, denv, 33, 77, docker, "exec", "-it", "ex", "sh")
	at, _ := p.expect(0, `# `)
	p.send("tty; stty size\r")
	at, _ = p.expect(at, `/dev/pts/\d+\r?\n`)
	at, _ = p.expect(at, `33 77\r?\n`)
	p.resize(44, 111)
	for i := 0; ; i++ {
		p.send("stty size\r")
		next, g := p.expect(at, `\n(\d+ \d+)\r?\n`)
		at = next
		if g[1] == "44 111" {
			break
		}
		if i == 50 {
			t.Fatalf("docker exec -it: resize did not reach the exec: %s", g[1])
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.send("exit 3\r")
	if code := p.wait(); code != 3 {
		t.Errorf("docker exec -it exit code %d, want 3", code)
	}
}

// logLines counts the lines the counter container logged.
func (s *stack) logLines(id string) int {
	out := s.mustRun("logs", id)
	return len(strings.Fields(out))
}

// pause, stats, stop with the stop signal, kill -s, restart policies and
// events.
func TestEngineControls(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	start := time.Now().Add(-time.Second).Unix()
	s.mustRun("run", "-d", "--name", "ctr", "busybox", "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done")
	eventually(t, "the counter to count", func() bool { return s.logLines("ctr") > 3 })

	s.mustRun("pause", "ctr")
	if st := s.inspectField("ctr", "{{.State.Status}} {{.State.Paused}}"); st != "paused true" {
		t.Errorf("paused state %q", st)
	}
	if ps := s.mustRun("ps"); !strings.Contains(ps, "(Paused)") {
		t.Errorf("ps of a paused container:\n%s", ps)
	}
	frozen := s.logLines("ctr")
	time.Sleep(500 * time.Millisecond)
	if n := s.logLines("ctr"); n != frozen {
		t.Errorf("paused counter advanced from %d to %d", frozen, n)
	}
	s.mustRun("unpause", "ctr")
	eventually(t, "the counter to count again", func() bool { return s.logLines("ctr") > frozen+2 })

	stats := s.mustRun("stats", "--no-stream", "ctr")
	m := regexp.MustCompile(`ctr\s+\S+%\s+([\d.]+)([KMG]i?B) / ([\d.]+)([KMG]i?B)`).FindStringSubmatch(stats)
	if m == nil || m[1] == "0" {
		t.Errorf("stats shows no memory:\n%s", stats)
	}

	// The container's stop signal (USR1, trapped: exit 42) ends it, no SIGKILL.
	// A signal without a handler never reaches a pid namespace's init:
	// each signal is sent only once the shell says its traps are set.
	s.mustRun("run", "-d", "--name", "sig", "busybox", "sh", "-c", "trap 'exit 42' USR1; trap 'exit 43' USR2; echo ready; while true; do sleep 0.05; done")
	eventually(t, "the traps of sig", func() bool { return strings.Contains(s.mustRun("logs", "sig"), "ready") })
	s.mustRun("kill", "-s", "USR2", "sig")
	eventually(t, "kill -s USR2", func() bool { return s.inspectField("sig", "{{.State.Status}} {{.State.ExitCode}}") == "exited 43" })
	code, body := s.http("POST", "/containers/create?name=stopsig", "application/json",
		[]byte(`{"Image":"busybox","Cmd":["sh","-c","trap 'exit 42' USR1; echo ready; while true; do sleep 0.05; done"],"StopSignal":"SIGUSR1"}`))
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	s.mustRun("start", "stopsig")
	eventually(t, "the trap of stopsig", func() bool { return strings.Contains(s.mustRun("logs", "stopsig"), "ready") })
	s.mustRun("stop", "-t", "20", "stopsig")
	if st := s.inspectField("stopsig", "{{.State.ExitCode}}"); st != "42" {
		t.Errorf("stop with StopSignal: exit code %s, want 42", st)
	}
	// A process that ignores the signal is killed after -t.
	s.mustRun("run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.05; done")
	s.mustRun("stop", "-t", "1", "stubborn")
	if st := s.inspectField("stubborn", "{{.State.ExitCode}}"); st != "137" {
		t.Errorf("stop -t 1 of a process ignoring TERM: exit %s, want 137", st)
	}

	s.mustRun("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")
	eventually(t, "on-failure:2 to give up", func() bool {
		return s.inspectField("flaky", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
	})
	time.Sleep(500 * time.Millisecond)
	if st := s.inspectField("flaky", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}"); st != "2 exited 3" {
		t.Errorf("on-failure:2 after giving up: %s", st)
	}
	if _, errOut, code := s.run("run", "-d", "--restart", "sometimes", "busybox", "true"); code != 125 || !strings.Contains(errOut, "invalid restart policy") {
		t.Errorf("bad restart policy: %d %s", code, errOut)
	}
	if _, errOut, code := s.run("run", "--runtime", "nosuch", "busybox", "true"); code != 125 || !strings.Contains(errOut, "unknown or invalid runtime name: nosuch") {
		t.Errorf("unknown runtime: %d %s", code, errOut)
	}
	info := s.mustRun("info")
	if !strings.Contains(info, "Default Runtime: berth") {
		t.Errorf("info:\n%s", info)
	}
	if _, err := exec.LookPath("runc"); err == nil && strings.Contains(info, "runc") {
		out, errOut, code := s.run("run", "--name", "onrunc", "--runtime", "runc", "busybox", "echo", "on runc")
		if code != 0 || out != "on runc\n" {
			t.Errorf("run --runtime runc: %d %q %q", code, out, errOut)
		}
		if rt := s.inspectField("onrunc", "{{.HostConfig.Runtime}}"); rt != "runc" {
			t.Errorf("HostConfig.Runtime %q", rt)
		}
	}

	// -m: over the limit, the kernel kills it: 137 and OOMKilled, and an
	// oom event from the supervisor.
	if _, _, code := s.run("run", "--name", "oom", "-m", "16m", "busybox", "sh", "-c", "head -c 200m /dev/zero | tail > /dev/null"); code != 137 {
		t.Errorf("OOM run exit %d, want 137", code)
	}
	if st := s.inspectField("oom", "{{.State.ExitCode}} {{.State.OOMKilled}}"); st != "137 true" {
		t.Errorf("OOM state %q", st)
	}

	ev := s.mustRun("events", "--since", strconv.FormatInt(start, 10), "--until", strconv.FormatInt(time.Now().Unix()+1, 10), "-f", "container=flaky")
	for _, want := range []string{"container create", "container start", "container die", "exitCode=3", "name=flaky"} {
		if !strings.Contains(ev, want) {
			t.Errorf("events have no %q:\n%s", want, ev)
		}
	}
	if n := strings.Count(ev, "container start"); n != 3 {
		t.Errorf("events: %d starts of flaky, want 3:\n%s", n, ev)
	}
	eventually(t, "the oom event", func() bool {
		ev := s.mustRun("events", "--since", strconv.FormatInt(start, 10), "--until", strconv.FormatInt(time.Now().Unix(), 10), "-f", "event=oom")
		return strings.Contains(ev, "container oom") && strings.Contains(ev, "name=oom")
	})
	ev = s.mustRun("events", "--since", strconv.FormatInt(start, 10), "--until", strconv.FormatInt(time.Now().Unix()+1, 10), "-f", "container=ctr")
	for _, want := range []string{"container pause", "container unpause"} {
		if !strings.Contains(ev, want) {
			t.Errorf("events have no %q:\n%s", want, ev)
		}
	}
}

// Restart policies hold across engined restarts: an always container whose
// process died while engined was down is started again; one a user stopped
// stays stopped.
func TestEngineRestartPolicyAcrossRestart(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustRun("run", "-d", "--name", "alw", "--restart", "always", "busybox", "sleep", "300")
	s.mustRun("run", "-d", "--name", "stopped", "--restart", "unless-stopped", "busybox", "sleep", "300")
	s.mustRun("stop", "-t", "0", "stopped")
	pid := s.containerPid("alw")
	if pid == 0 {
		t.Fatal("no pid")
	}
	s.kill9(s.engine)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.startEngine()
	eventually(t, "alw restarted", func() bool {
		return s.inspectField("alw", "{{.State.Running}} {{.RestartCount}}") == "true 1"
	})
	if p := s.containerPid("alw"); p == pid || p == 0 {
		t.Errorf("pid after restart %d (before %d)", p, pid)
	}
	if st := s.inspectField("stopped", "{{.State.Status}}"); st != "exited" {
		t.Errorf("a stopped unless-stopped container after engine restart: %s", st)
	}
	// The watcher was re-established: a second death restarts it again.
	if err := syscall.Kill(s.containerPid("alw"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alw restarted again", func() bool {
		return s.inspectField("alw", "{{.State.Running}} {{.RestartCount}}") == "true 2"
	})
}
