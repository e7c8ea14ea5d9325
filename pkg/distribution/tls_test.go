package distribution

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/testprereq"
)

// A registry that is not localhost is reached over HTTPS only, trusting
// the system CAs plus certs.d/<host>/ca.crt.
func TestPullTLSWithCertsDir(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	testprereq.Require(t, err == nil, "127.0.0.2: %v", err)
	host := l.Addr().String()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth test registry"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.2")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	e.fake.addImage("1")
	srv := &http.Server{Handler: e.fake, TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })

	ref := host + "/app:1"
	if _, err := e.svc.Pull(e.ctx, ref, PullOptions{}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("pull without the CA: %v", err)
	}
	certs := t.TempDir()
	os.MkdirAll(filepath.Join(certs, host), 0o755)
	os.WriteFile(filepath.Join(certs, host, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	svc := New(Config{CertsDir: certs}, e.cs, e.is)
	if _, err := svc.Pull(e.ctx, ref, PullOptions{}); err != nil {
		t.Fatalf("pull with the CA: %v", err)
	}
}
