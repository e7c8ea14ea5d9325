package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
)

// crictl (sigs.k8s.io/cri-tools, scripts/install-cri-tools.sh) against the
// CRI server: a pod with two containers that talk over localhost, exec
// (with stdin), logs, port-forward, then stopp/rmp leave no mount,
// cgroup, veth or netns.
func TestCRICrictl(t *testing.T) {
	crictl, err := exec.LookPath("crictl")
	testprereq.Require(t, err == nil, "crictl (scripts/install-cri-tools.sh, run by make deps)")
	e := newCRIEnv(t, true)
	cn := e.writeCNI(t)
	img := e.criBusybox(t)
	dir := e.sv.dir
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(crictl, append([]string{"--runtime-endpoint", "unix://" + e.addr, "--image-endpoint", "unix://" + e.addr, "--timeout", "60s"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("crictl %v: %v\n%s%s", args, err, out, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name string, v any) string {
		t.Helper()
		b, _ := json.Marshal(v)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pod := write("pod.json", map[string]any{
		"metadata":      map[string]any{"name": "crictl-pod", "namespace": "test", "uid": "crictl-uid"},
		"hostname":      "crictl-pod",
		"log_directory": filepath.Join(dir, "podlogs"),
		"linux":         map[string]any{},
	})
	ctr := func(name string, cmd ...string) string {
		return write(name+".json", map[string]any{
			"metadata": map[string]any{"name": name}, "image": map[string]any{"image": img},
			"command": cmd, "log_path": name + ".log",
		})
	}
	podID := run("", "runp", pod)
	server := run("", "create", podID, ctr("server", "sh", "-c", "echo server up; echo hello-over-localhost > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"), pod)
	client := run("", "create", podID, ctr("client", "sleep", "1000"), pod)
	run("", "start", server)
	run("", "start", client)

	var got string
	for i := 0; i < 50; i++ {
		cmd := exec.Command(crictl, "--runtime-endpoint", "unix://"+e.addr, "exec", client, "wget", "-q", "-O", "-", "http://localhost:8080/index.html")
		out, err := cmd.Output()
		if got = string(out); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "hello-over-localhost\n" {
		t.Fatalf("client to server over localhost through crictl exec: %q", got)
	}
	if out := run("some input\n", "exec", "-i", client, "sh", "-c", "read x; echo got $x"); out != "got some input" {
		t.Fatalf("crictl exec -i = %q", out)
	}
	if out := run("", "logs", server); out != "server up" {
		t.Fatalf("crictl logs = %q", out)
	}

	// port-forward: a local port to the pod's 8080
	port := freePort(t)
	pf := exec.Command(crictl, "--runtime-endpoint", "unix://"+e.addr, "port-forward", podID, fmt.Sprintf("%d:8080", port))
	pfOut, _ := pf.StdoutPipe()
	pf.Stderr = pf.Stdout
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		pf.Process.Signal(syscall.SIGTERM)
		pf.Wait()
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pfOut)
		var all []string
		for sc.Scan() {
			all = append(all, sc.Text())
			if strings.Contains(sc.Text(), "Forwarding from") {
				ready <- ""
				io.Copy(io.Discard, pfOut)
				return
			}
		}
		ready <- strings.Join(all, "\n")
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			t.Fatalf("crictl port-forward: %s", msg)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("crictl port-forward does not forward")
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
	if err != nil {
		t.Fatalf("through the port-forward: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello-over-localhost\n" {
		t.Fatalf("through the port-forward: %q", body)
	}

	if out := run("", "inspectp", "-o", "go-template", "--template", "{{.status.state}}", podID); out != "SANDBOX_READY" {
		t.Fatalf("inspectp state = %q", out)
	}
	run("", "stop", client)
	run("", "rm", client)
	run("", "stopp", podID)
	run("", "rmp", podID)
	if out := run("", "pods", "-q"); out != "" {
		t.Fatalf("pods after rmp: %q", out)
	}
	if left := criLeftovers(t, dir, podID, server, client); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if out, _ := exec2("ip", "-o", "link", "show", "master", cn.bridge); strings.Contains(out, "veth") {
		t.Fatalf("veth left on %s: %s", cn.bridge, out)
	}
}
