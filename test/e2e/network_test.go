package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/test/image"
)

// dockerOut runs the docker CLI, fails unless it exits 0, and returns its
// trimmed output.
func (s *stack) dockerOut(args ...string) string {
	s.t.Helper()
	out, errOut, code := s.docker(args...)
	if code != 0 {
		s.t.Fatalf("docker %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// httpd runs a busybox web server answering "hello from NAME".
func httpdArgs(name string) []string {
	return []string{"busybox", "sh", "-c", "mkdir /www && echo hello from " + name + " > /www/index.html && exec httpd -f -p 80 -h /www"}
}

func requireNetTools(t *testing.T) {
	for _, tool := range []string{"ip", "nft"} {
		_, err := exec.LookPath(tool)
		require(t, err == nil, "needs "+tool)
	}
}

// wgetHost fetches a URL from the host (the test's own namespace).
func wgetHost(t *testing.T, url string) (string, error) {
	t.Helper()
	// No -T: busybox 1.35's wget crashes with it; the context bounds it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, image.BusyboxPath, "wget", "-q", "-O", "-", url).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestNetworkPublishedPort(t *testing.T) {
	requireNetTools(t)
	s := newStack(t)
	s.loadBusybox()
	id := s.dockerOut(append([]string{"run", "-d", "--name", "web", "-p", "127.0.0.1::80"}, httpdArgs("web")...)...)
	hostPort := s.dockerOut("port", "web", "80")
	if !strings.HasPrefix(hostPort, "127.0.0.1:") {
		t.Fatalf("docker port web 80: %q", hostPort)
	}
	var body string
	eventually(t, "httpd answers through the published port", func() bool {
		b, err := wgetHost(t, "http://"+hostPort+"/")
		body = b
		return err == nil
	})
	if body != "hello from web" {
		t.Fatalf("from the host: %q", body)
	}
	ip := s.dockerOut("inspect", "-f", "{{.NetworkSettings.IPAddress}}", id)
	gw := s.dockerOut("inspect", "-f", "{{.NetworkSettings.Gateway}}", id)
	if ip == "" || gw == "" {
		t.Fatalf("inspect: IPAddress %q Gateway %q", ip, gw)
	}
	// And directly by its address, from another container on the default bridge.
	out := s.dockerOut("run", "--rm", "busybox", "sh", "-c", "wget -q -O - http://"+ip+"/")
	if out != "hello from web" {
		t.Fatalf("from a bridge container by IP: %q", out)
	}
	// A second container reaches it through the host port: from the host's
	// namespace (--network host) on 127.0.0.1.
	out = s.dockerOut("run", "--rm", "--network", "host", "busybox", "sh", "-c", "wget -q -O - http://"+hostPort+"/")
	if out != "hello from web" {
		t.Fatalf("from a --network host container: %q", out)
	}
	// Published on every address: other containers reach it through the
	// gateway's address and the host port (hairpin through the host).
	s.dockerOut(append([]string{"run", "-d", "--name", "web2", "-p", "80"}, httpdArgs("web2")...)...)
	port2 := s.dockerOut("port", "web2", "80/tcp")
	_, p2, _ := strings.Cut(port2, ":")
	eventually(t, "web2 answers on the gateway's address", func() bool {
		b, err := wgetHost(t, "http://"+gw+":"+p2+"/")
		return err == nil && b == "hello from web2"
	})
	out = s.dockerOut("run", "--rm", "busybox", "sh", "-c", "wget -q -O - http://"+gw+":"+p2+"/")
	if out != "hello from web2" {
		t.Fatalf("from a bridge container through %s:%s: %q", gw, p2, out)
	}
	s.dockerOut("rm", "-f", "web2")

	ps := s.dockerOut("ps", "--format", "{{.Ports}}")
	if !strings.Contains(ps, hostPort+"->80/tcp") {
		t.Fatalf("ps PORTS: %q, want %s->80/tcp", ps, hostPort)
	}
	s.dockerOut("rm", "-f", "web")
	if leaks := s.netLeaks(); len(leaks) > 0 {
		t.Fatalf("after rm: %v", leaks)
	}
	if _, err := wgetHost(t, "http://"+hostPort+"/"); err == nil {
		t.Fatalf("the port still answers after rm")
	}
}
