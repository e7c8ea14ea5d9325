package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/testprereq"
)

// TestNetworkCompose: Debian's docker-compose brings up two services on a
// network of their own; the client finds the web service by its name and
// the web service's port is published on the host.
func TestNetworkCompose(t *testing.T) {
	requireNetTools(t)
	compose, err := exec.LookPath("docker-compose")
	testprereq.Require(t, err == nil, "docker-compose (Debian's)")
	s := newStack(t)
	s.loadBusybox()
	dir := filepath.Join(s.root, "app")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(`version: "3"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /w && echo from compose > /w/index.html && exec httpd -f -p 80 -h /w"]
    ports: ["127.0.0.1::80"]
    networks: [back]
  client:
    image: busybox
    command: ["sleep", "300"]
    dns: ["127.0.0.1"]
    networks: [back]
networks:
  back: {}
`), 0o644)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(compose, append([]string{"-p", "demo"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+s.engSock, "DOCKER_CONFIG="+filepath.Join(s.root, "dockercfg"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("up", "-d")
	var body string
	eventually(t, "client reaches http://web/", func() bool {
		out, _, code := s.docker("exec", "demo_client_1", "sh", "-c", "wget -q -O - http://web/")
		body = strings.TrimSpace(out)
		return code == 0
	})
	if body != "from compose" {
		t.Fatalf("http://web/: %q", body)
	}
	port := run("port", "web", "80")
	eventually(t, "the published port answers", func() bool {
		b, err := wgetHost(t, "http://"+port+"/")
		return err == nil && b == "from compose"
	})
	run("down")
	if ls := s.dockerOut("network", "ls", "--format", "{{.Name}}"); strings.Contains(ls, "demo_back") {
		t.Fatalf("compose down left its network: %q", ls)
	}
	if leaks := s.netLeaks(); len(leaks) > 0 {
		t.Fatalf("after compose down: %v", leaks)
	}
}
