package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/supervisor"
	"github.com/berthd/berth/pkg/testprereq"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// registry is Debian's docker-registry serving a temp dir on 127.0.0.1.
type registry struct {
	host     string // 127.0.0.1:PORT
	dir      string
	log      string
	user     string
	password string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRegistry starts a registry; withAuth protects it with basic auth
// (htpasswd, bcrypt) for user "berth".
func startRegistry(t *testing.T, withAuth bool) *registry {
	t.Helper()
	testprereq.Root(t)
	_, err := exec.LookPath("docker-registry")
	testprereq.Require(t, err == nil, "docker-registry (Debian package docker-registry)")
	dir, err := os.MkdirTemp("", "breg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &registry{dir: dir, log: filepath.Join(dir, "registry.log")}
	auth := ""
	if withAuth {
		_, err := exec.LookPath("htpasswd")
		testprereq.Require(t, err == nil, "htpasswd (Debian package apache2-utils)")
		r.user, r.password = "berth", "s3cret-pass"
		out, err := exec.Command("htpasswd", "-Bbn", r.user, r.password).Output()
		if err != nil {
			t.Fatalf("htpasswd: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), out, 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	var cmd *exec.Cmd
	for try := 0; ; try++ {
		r.host = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, filepath.Join(dir, "data"), r.host, auth)
		if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		logf, err := os.OpenFile(r.log, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command("docker-registry", "serve", filepath.Join(dir, "config.yml"))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatal(err)
		}
		logf.Close()
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		pid := cmd.Process.Pid
		t.Cleanup(func() {
			syscallKill(pid)
			<-exited
		})
		up := false
		for i := 0; i < 100 && !up; i++ {
			select {
			case <-exited:
				i = 100
				continue
			default:
			}
			if resp, err := http.Get("http://" + r.host + "/v2/"); err == nil {
				resp.Body.Close()
				up = true
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if up {
			return r
		}
		if try == 2 {
			b, _ := os.ReadFile(r.log)
			t.Fatalf("docker-registry did not start:\n%s", b)
		}
	}
}

func syscallKill(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}

// logLines returns the registry's log lines containing all of subs.
func (r *registry) logLines(subs ...string) []string {
	b, _ := os.ReadFile(r.log)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func (r *registry) auth() *pb.RegistryAuth {
	return &pb.RegistryAuth{Username: r.user, Password: r.password, ServerAddress: r.host}
}

// pull runs Distribution.Pull to its end, returning the image and the
// progress statuses seen.
func (e *svEnv) pull(t *testing.T, ref string, auth *pb.RegistryAuth) (*pb.Image, []*pb.Progress, error) {
	t.Helper()
	st, err := pb.NewDistributionClient(e.conn).Pull(svCtx(t), &pb.PullRequest{Ref: ref, Auth: auth})
	if err != nil {
		return nil, nil, errdefs.FromGRPC(err)
	}
	var prog []*pb.Progress
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return nil, prog, fmt.Errorf("pull stream ended without an image")
		}
		if err != nil {
			return nil, prog, errdefs.FromGRPC(err)
		}
		if m.Progress != nil {
			prog = append(prog, m.Progress)
		}
		if m.Image != nil {
			return m.Image, prog, nil
		}
	}
}

func (e *svEnv) push(t *testing.T, name, ref string, auth *pb.RegistryAuth) (string, []*pb.Progress, error) {
	t.Helper()
	st, err := pb.NewDistributionClient(e.conn).Push(svCtx(t), &pb.PushRequest{Name: name, Ref: ref, Auth: auth})
	if err != nil {
		return "", nil, errdefs.FromGRPC(err)
	}
	var prog []*pb.Progress
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return "", prog, fmt.Errorf("push stream ended without a digest")
		}
		if err != nil {
			return "", prog, errdefs.FromGRPC(err)
		}
		if m.Progress != nil {
			prog = append(prog, m.Progress)
		}
		if m.Digest != "" {
			return m.Digest, prog, nil
		}
	}
}

func statuses(prog []*pb.Progress, status string) int {
	n := 0
	for _, p := range prog {
		if p.Status == status {
			n++
		}
	}
	return n
}

// countingProxy is a reverse proxy in front of a registry that counts the
// blob bytes it serves and can hold blob answers after a number of bytes
// (to kill a client in the middle of a pull).
type countingProxy struct {
	host     string
	served   atomic.Int64
	holdAt   atomic.Int64 // 0: never hold
	held     chan struct{}
	heldOnce sync.Once
	release  chan struct{}
}

func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, _ := url.Parse("http://" + target)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &countingProxy{held: make(chan struct{}), release: make(chan struct{})}
	rp.ModifyResponse = func(resp *http.Response) error {
		if strings.Contains(resp.Request.URL.Path, "/blobs/sha256:") && resp.Request.Method == http.MethodGet {
			resp.Body = &countingBody{rc: resp.Body, p: p}
		}
		return nil
	}
	rp.FlushInterval = -1
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(l)
	t.Cleanup(func() {
		p.unhold()
		srv.Close()
	})
	p.host = l.Addr().String()
	return p
}

func (p *countingProxy) unhold() {
	select {
	case <-p.release:
	default:
		close(p.release)
	}
}

type countingBody struct {
	rc io.ReadCloser
	p  *countingProxy
}

func (b *countingBody) Read(buf []byte) (int, error) {
	if at := b.p.holdAt.Load(); at > 0 && b.p.served.Load() >= at {
		b.p.heldOnce.Do(func() { close(b.p.held) })
		<-b.p.release
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.rc.Read(buf)
	b.p.served.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

var _ = bytes.NewReader

// newRegEnv is newSvEnv (no tasks) with a say in the supervisor's config.
func newRegEnv(t *testing.T, mod func(*supervisor.Config)) *svEnv {
	t.Helper()
	testprereq.Root(t)
	dir, err := os.MkdirTemp("", "bs")
	if err != nil {
		t.Fatal(err)
	}
	e := &svEnv{dir: dir}
	e.cfg = supervisor.Config{
		Root:     filepath.Join(dir, "root"),
		State:    filepath.Join(dir, "state"),
		Address:  filepath.Join(dir, "sv.sock"),
		Runtimes: []supervisor.Runtime{},
	}
	if mod != nil {
		mod(&e.cfg)
	}
	t.Cleanup(func() {
		e.stop(t)
		svUnmountUnder(dir)
		os.RemoveAll(dir)
	})
	e.start(t)
	return e
}

func (e *svEnv) contentBlobs(t *testing.T) []string {
	t.Helper()
	l, err := e.cont.List(svCtx(t), &pb.ListContentRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range l.Info {
		out = append(out, i.Digest)
	}
	return out
}
