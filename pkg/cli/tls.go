package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Client TLS, as the docker CLI: --tlsverify (default: $DOCKER_TLS_VERIFY
// not empty) implies --tls and checks the engine's certificate against
// --tlscacert; --tls alone encrypts without checking it. The files default
// to ca.pem, cert.pem and key.pem in $DOCKER_CERT_PATH, else ~/.docker; the
// client certificate is sent when given or when the default files exist.

// TLSOptions are ctl's TLS flags.
type TLSOptions struct {
	TLS, Verify       bool
	CACert, Cert, Key string
	// certGiven says --tlscert or --tlskey was given: the files must then
	// exist, where missing default files just mean no client certificate.
	certGiven bool
}

func certDir() string {
	if d := os.Getenv("DOCKER_CERT_PATH"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

func addTLSFlags(root *cobra.Command, o *TLSOptions) {
	dir := certDir()
	f := root.Flags()
	f.BoolVar(&o.TLS, "tls", false, "use TLS; implied by --tlsverify")
	f.BoolVar(&o.Verify, "tlsverify", os.Getenv("DOCKER_TLS_VERIFY") != "", "use TLS and verify the remote")
	f.StringVar(&o.CACert, "tlscacert", filepath.Join(dir, "ca.pem"), "trust certs signed only by this CA")
	f.StringVar(&o.Cert, "tlscert", filepath.Join(dir, "cert.pem"), "path to TLS certificate file")
	f.StringVar(&o.Key, "tlskey", filepath.Join(dir, "key.pem"), "path to TLS key file")
}

// tlsParsed notes what the parsed root flags say of the certificate.
func (o *TLSOptions) tlsParsed(f *pflag.FlagSet) {
	o.certGiven = f.Changed("tlscert") || f.Changed("tlskey")
}

// httpClient is the HTTP client for TLS, or nil without it.
func (o *TLSOptions) httpClient() (*http.Client, error) {
	if !o.TLS && !o.Verify {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.Verify {
		pem, err := os.ReadFile(o.CACert)
		if err != nil {
			return nil, fmt.Errorf("could not read CA certificate %q: %w", o.CACert, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("failed to append certificates from PEM file: %q", o.CACert)
		}
		cfg.RootCAs = pool
	} else {
		cfg.InsecureSkipVerify = true // --tls without --tlsverify, as docker
	}
	_, certErr := os.Stat(o.Cert)
	_, keyErr := os.Stat(o.Key)
	if o.certGiven || certErr == nil && keyErr == nil {
		pair, err := tls.LoadX509KeyPair(o.Cert, o.Key)
		if err != nil {
			return nil, fmt.Errorf("could not load X509 key pair: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, nil
}
