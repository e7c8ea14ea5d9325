package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	shimclient "github.com/berthd/berth/pkg/shim/client"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

const shimLauncherEnv = "BERTH_SHIM_TEST_LAUNCHER"

// TestShimLauncherHelper is not a test: run as a child process with
// $BERTH_SHIM_TEST_LAUNCHER set to StartOpts in JSON, it plays supervisord:
// starts a shim, prints its pid and waits to be killed.
func TestShimLauncherHelper(t *testing.T) {
	opts := os.Getenv(shimLauncherEnv)
	if opts == "" {
		t.Skip("helper process only")
	}
	var o shimclient.StartOpts
	if err := json.Unmarshal([]byte(opts), &o); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	c, err := shimclient.Start(context.Background(), o)
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	if _, err := c.Create(context.Background(), &shimv1.CreateRequest{LogPath: filepath.Join(o.StateDir, "..", "c.log")}); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	if _, err := c.Start(context.Background()); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("pid %d\n", c.Pid())
	select {}
}

// A SIGKILLed launcher (supervisord) leaves the shim and its container
// running; a new client reconnects by socket.
func TestShimSurvivesLauncherKill(t *testing.T) {
	rt := shimRuntime(t)
	dir, err := os.MkdirTemp("", "bs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	id := "shimtest-" + filepath.Base(dir)
	root := filepath.Join(dir, "rt")
	bundle := shimBundle(t, rt, dir, id, "sh", "-c", "echo started; sleep 100")
	var shimPid int
	shimCleanup(t, rt, root, id, &shimPid)
	o := shimclient.StartOpts{
		ID: id, Bundle: bundle, Runtime: rt, RuntimeRoot: root,
		Socket: filepath.Join(dir, "s.sock"), StateDir: filepath.Join(dir, "state"),
		ShimBinary: shimBinary(t, dir),
	}
	b, _ := json.Marshal(o)
	launcher := exec.Command(os.Args[0], "-test.run=^TestShimLauncherHelper$", "-test.count=1")
	launcher.Env = append(os.Environ(), shimLauncherEnv+"="+string(b))
	out, err := launcher.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := launcher.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { launcher.Process.Kill(); launcher.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if _, err := fmt.Sscanf(line, "pid %d", &shimPid); err != nil {
		t.Fatalf("launcher said %q", line)
	}
	if err := launcher.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	launcher.Wait()
	time.Sleep(200 * time.Millisecond)

	ctx := shimCtx(t)
	c, err := shimclient.Connect(ctx, o.Socket)
	if err != nil {
		t.Fatalf("connect after launcher died: %v", err)
	}
	defer c.Close()
	st, err := c.State(ctx)
	if err != nil || st.Status != shimv1.Status_STATUS_RUNNING {
		t.Fatalf("state: %v %v", st, err)
	}
	// Still logging after the launcher is gone.
	if b, _ := os.ReadFile(filepath.Join(dir, "c.log")); !strings.Contains(string(b), "started") {
		t.Fatalf("log: %q", b)
	}
	if err := c.Kill(ctx, 9, false); err != nil {
		t.Fatal(err)
	}
	if w, err := c.Wait(ctx); err != nil || w.ExitStatus != 137 {
		t.Fatalf("wait: %v %v", w, err)
	}
	if _, err := os.Stat(filepath.Join(o.StateDir, "exit.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The shim is no longer our child: wait for it to disappear.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", shimPid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("shim did not exit after shutdown")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(o.Socket); err == nil {
		t.Fatal("socket left behind")
	}
}
