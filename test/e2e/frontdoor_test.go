package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
)

// The daemons' front door (issue 12): unix sockets 0660 with a group, and
// tcp:// only behind mutual TLS unless plain TCP is asked for by name.

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into dir, with the docker CLI's file names for the client
// (ca.pem, cert.pem, key.pem) and server-*.pem for the server.
func testPKI(t *testing.T, dir, prefix string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: prefix + "berth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	writePEM(t, filepath.Join(dir, prefix+"ca.pem"), "CERTIFICATE", caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		writePEM(t, filepath.Join(dir, prefix+name+"-cert.pem"), "CERTIFICATE", der)
		writePEM(t, filepath.Join(dir, prefix+name+"-key.pem"), "EC PRIVATE KEY", kb)
	}
	issue("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	issue("client", 3, x509.ExtKeyUsageClientAuth, nil)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a loopback TCP port nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// client runs the docker CLI or ctl with exactly the given environment
// additions (no DOCKER_HOST or BERTH_HOST inherited).
func frontDoorClient(t *testing.T, bin string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "DOCKER_") && !strings.HasPrefix(e, "BERTH_HOST=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestFrontDoorTLS(t *testing.T) {
	requireStack(t)
	docker, err := exec.LookPath("docker")
	testprereq.Require(t, err == nil, "docker CLI")
	pki := t.TempDir()
	testPKI(t, pki, "")
	testPKI(t, pki, "other-")
	port := freePort(t)
	addr := "tcp://127.0.0.1:" + port
	newStackArgs(t, "-H", addr,
		"--tlsverify", "--tlscacert", filepath.Join(pki, "ca.pem"),
		"--tlscert", filepath.Join(pki, "server-cert.pem"), "--tlskey", filepath.Join(pki, "server-key.pem"))
	// The docker CLI's layout of a client cert dir.
	certs := t.TempDir()
	for from, to := range map[string]string{"ca.pem": "ca.pem", "client-cert.pem": "cert.pem", "client-key.pem": "key.pem"} {
		b, _ := os.ReadFile(filepath.Join(pki, from))
		os.WriteFile(filepath.Join(certs, to), b, 0o600)
	}
	ctl := filepath.Join(binDir(t), "ctl")
	flags := []string{"-H", addr, "--tlsverify", "--tlscacert", filepath.Join(pki, "ca.pem"),
		"--tlscert", filepath.Join(pki, "client-cert.pem"), "--tlskey", filepath.Join(pki, "client-key.pem")}
	envs := []string{"DOCKER_HOST=" + addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + certs}
	for _, bin := range []string{docker, ctl} {
		name := filepath.Base(bin)
		if out, err := frontDoorClient(t, bin, nil, append(flags, "version")...); err != nil || !strings.Contains(out, "Server") {
			t.Errorf("%s with client certificate flags: %v\n%s", name, err, out)
		}
		if out, err := frontDoorClient(t, bin, envs, "ps"); err != nil || !strings.Contains(out, "CONTAINER ID") {
			t.Errorf("%s with DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH: %v\n%s", name, err, out)
		}
		// No client certificate: the handshake is refused.
		empty := t.TempDir()
		if out, err := frontDoorClient(t, bin, []string{"DOCKER_CERT_PATH=" + empty}, "-H", addr, "--tlsverify", "--tlscacert", filepath.Join(pki, "ca.pem"), "ps"); err == nil || !strings.Contains(out, "certificate") {
			t.Errorf("%s without a client certificate: want a TLS refusal, got %v:\n%s", name, err, out)
		}
		// A certificate of another CA is refused too.
		if out, err := frontDoorClient(t, bin, nil, "-H", addr, "--tlsverify", "--tlscacert", filepath.Join(pki, "ca.pem"),
			"--tlscert", filepath.Join(pki, "other-client-cert.pem"), "--tlskey", filepath.Join(pki, "other-client-key.pem"), "ps"); err == nil || !strings.Contains(out, "certificate") {
			t.Errorf("%s with another CA's certificate: want a TLS refusal, got %v:\n%s", name, err, out)
		}
		// Plain HTTP to the TLS port gets nothing of the API.
		if out, err := frontDoorClient(t, bin, nil, "-H", addr, "ps"); err == nil {
			t.Errorf("%s in plain HTTP got in:\n%s", name, out)
		}
	}
	if resp, err := http.Get("http://127.0.0.1:" + port + "/containers/json"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP got the container list")
		}
	}
}

func TestFrontDoorPlainTCP(t *testing.T) {
	requireStack(t)
	docker, err := exec.LookPath("docker")
	testprereq.Require(t, err == nil, "docker CLI")
	root := t.TempDir()
	port := freePort(t)
	// Refused without the explicit flag, before anything is made.
	cmd := exec.Command(filepath.Join(binDir(t), "engined"), "-H", "tcp://127.0.0.1:"+port,
		"--data-root", filepath.Join(root, "eng"), "--exec-root", filepath.Join(root, "run"),
		"--supervisor", "unix://"+filepath.Join(root, "none.sock"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--tlsverify") || !strings.Contains(string(out), "--tls=false") {
		t.Fatalf("plain tcp without --tls=false: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "eng")); err == nil {
		t.Error("a refused engined made its data root")
	}
	// With --tls=false: served, with a warning in the log.
	addr := "tcp://127.0.0.1:" + port
	s := newStackArgs(t, "-H", addr, "--tls=false")
	if out, err := frontDoorClient(t, docker, []string{"DOCKER_HOST=" + addr}, "ps"); err != nil || !strings.Contains(out, "CONTAINER ID") {
		t.Errorf("docker over plain tcp with --tls=false: %v\n%s", err, out)
	}
	if !strings.Contains(s.tail("engined"), "plain TCP without authentication") {
		t.Errorf("no warning in engined's log:\n%s", s.tail("engined"))
	}
}

func sockOwner(t *testing.T, path string) (os.FileMode, uint32, uint32) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return st.Mode().Perm(), sys.Uid, sys.Gid
}

func TestFrontDoorSocketGroup(t *testing.T) {
	requireStack(t)
	// The default: the docker group when it exists, else root's only.
	want := uint32(0)
	if g, err := user.LookupGroup("docker"); err == nil {
		n, _ := strconv.Atoi(g.Gid)
		want = uint32(n)
	}
	s := newStack(t)
	for _, p := range []string{s.supSock, s.engSock} {
		if mode, uid, gid := sockOwner(t, p); mode != 0o660 || uid != 0 || gid != want {
			t.Errorf("%s: mode %v owner %d:%d, want 0660 0:%d", filepath.Base(p), mode, uid, gid, want)
		}
	}
	if want == 0 && !strings.Contains(s.tail("engined"), "group docker not found") {
		t.Errorf("engined does not say its socket is root's only:\n%s", s.tail("engined"))
	}
	// -G by gid for engined (a second unix host) and supervisord.
	s2 := newStackArgs(t, "-G", "4242")
	if mode, _, gid := sockOwner(t, s2.engSock); mode != 0o660 || gid != 4242 {
		t.Errorf("engined -G 4242: mode %v gid %d", mode, gid)
	}
	root := t.TempDir()
	sock := filepath.Join(root, "sup.sock")
	sup := exec.Command(filepath.Join(binDir(t), "supervisord"), "--root", filepath.Join(root, "r"), "--state", filepath.Join(root, "s"), "--address", sock, "-G", "4243")
	sup.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sup.Process.Signal(syscall.SIGTERM); sup.Wait() }()
	eventually(t, "supervisord's socket", func() bool { _, err := os.Stat(sock); return err == nil })
	if mode, _, gid := sockOwner(t, sock); mode != 0o660 || gid != 4243 {
		t.Errorf("supervisord -G 4243: mode %v gid %d", mode, gid)
	}
	// A group named and missing stops the daemons with its name.
	for _, c := range [][]string{
		{filepath.Join(binDir(t), "engined"), "-G", "no-such-group-berth", "-H", "unix://" + filepath.Join(root, "e.sock"), "--data-root", filepath.Join(root, "d"), "--exec-root", filepath.Join(root, "x")},
		{filepath.Join(binDir(t), "supervisord"), "-G", "no-such-group-berth", "--root", filepath.Join(root, "r2"), "--state", filepath.Join(root, "s2"), "--address", filepath.Join(root, "s2.sock")},
	} {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "no-such-group-berth") {
			t.Errorf("%s -G no-such-group-berth: %v\n%s", filepath.Base(c[0]), err, out)
		}
	}
}
