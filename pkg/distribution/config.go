// Package distribution pulls and pushes images from and to registries that
// speak the OCI distribution spec (and Docker's registry v2 API): name
// resolution and mirrors, TLS and plain-HTTP policy, bearer-token and basic
// auth, retries, resumable blob downloads into the content store, and the
// pull and push pipelines. See docs/images.md.
package distribution

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
)

// Config says how to reach registries.
type Config struct {
	// Mirrors lists endpoints ("https://mirror.example", "http://127.0.0.1:5000")
	// tried in order before a registry itself, by registry host ("docker.io").
	Mirrors map[string][]string
	// Insecure lists registry hosts ("host:port" or "host") that may be
	// reached over plain HTTP. localhost and 127.0.0.1 always may.
	Insecure []string
	// CertsDir holds <host>/ca.crt (docker's certs.d layout): extra CAs
	// trusted for that host, beside the system's.
	CertsDir string
	// DockerConfig is the path of a docker config.json whose `auths` give
	// credentials ("" = $DOCKER_CONFIG/config.json, else none).
	DockerConfig string
	// MaxLayerSize refuses layers whose descriptor claims more (0 = 4 GiB).
	MaxLayerSize int64
	// Concurrency is how many blobs download at once (0 = 3).
	Concurrency int
	// ChunkSize: blobs above it are pushed in chunks of this size (0 = 8 MiB).
	ChunkSize int64
	// Transport, for tests; nil uses one per host with the TLS policy above.
	Transport http.RoundTripper
}

// Credentials for one registry.
type Credentials struct {
	Username      string
	Password      string
	IdentityToken string // an OAuth2 refresh token (docker login with a token)
	RegistryToken string // a bearer token used as is
}

func (c *Credentials) empty() bool {
	return c == nil || (c.Username == "" && c.Password == "" && c.IdentityToken == "" && c.RegistryToken == "")
}

// endpoint is one base URL serving /v2/ for a registry.
type endpoint struct {
	scheme string
	host   string
	mirror bool
}

func (e endpoint) url(path string) string { return e.scheme + "://" + e.host + "/v2/" + path }

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

func isLocal(h string) bool {
	switch hostOnly(h) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

func (c *Config) insecure(h string) bool {
	if isLocal(h) {
		return true
	}
	for _, i := range c.Insecure {
		if i == h || i == hostOnly(h) {
			return true
		}
	}
	return false
}

// endpoints lists where the registry domain (as in a normalized name) is
// reached: its mirrors, then itself.
func (c *Config) endpoints(domain string) ([]endpoint, error) {
	var eps []endpoint
	for _, m := range c.Mirrors[domain] {
		scheme, host, ok := strings.Cut(strings.TrimSuffix(m, "/"), "://")
		if !ok {
			scheme, host = "https", m
		}
		if scheme != "http" && scheme != "https" {
			return nil, fmt.Errorf("mirror %q: scheme must be http or https: %w", m, errdefs.ErrInvalidArgument)
		}
		if scheme == "http" && !c.insecure(host) {
			return nil, fmt.Errorf("mirror %q: plain HTTP only for localhost or insecure registries: %w", m, errdefs.ErrInvalidArgument)
		}
		eps = append(eps, endpoint{scheme: scheme, host: host, mirror: true})
	}
	host := domain
	if domain == "docker.io" {
		host = "registry-1.docker.io"
	}
	scheme := "https"
	if c.insecure(domain) {
		scheme = "http"
	}
	return append(eps, endpoint{scheme: scheme, host: host}), nil
}

// transports keeps one http.Transport per host (TLS roots differ by host).
type transports struct {
	mu sync.Mutex
	m  map[string]http.RoundTripper
}

func (c *Config) transport(t *transports, host string) (http.RoundTripper, error) {
	if c.Transport != nil {
		return c.Transport, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt, ok := t.m[host]; ok {
		return rt, nil
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CertsDir != "" {
		ca, err := os.ReadFile(filepath.Join(c.CertsDir, host, "ca.crt"))
		if err == nil {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("%s: no certificate found: %w", filepath.Join(c.CertsDir, host, "ca.crt"), errdefs.ErrInvalidArgument)
			}
			tlsCfg.RootCAs = pool
		}
	}
	rt := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
	}
	if t.m == nil {
		t.m = map[string]http.RoundTripper{}
	}
	t.m[host] = rt
	return rt, nil
}

// dockerAuths reads the `auths` of a docker config.json: base64 "user:pass"
// in `auth`, or `identitytoken`.
func (c *Config) dockerCredentials(domain string) *Credentials {
	p := c.DockerConfig
	if p == "" {
		if d := os.Getenv("DOCKER_CONFIG"); d != "" {
			p = filepath.Join(d, "config.json")
		}
	}
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var cfg struct {
		Auths map[string]struct {
			Auth          string `json:"auth"`
			IdentityToken string `json:"identitytoken"`
		} `json:"auths"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return nil
	}
	keys := []string{domain, "https://" + domain, "http://" + domain}
	if domain == "docker.io" {
		keys = append(keys, "https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io")
	}
	for _, k := range keys {
		a, ok := cfg.Auths[k]
		if !ok {
			continue
		}
		cr := &Credentials{IdentityToken: a.IdentityToken}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				continue
			}
			cr.Username, cr.Password, _ = strings.Cut(string(raw), ":")
		}
		return cr
	}
	return nil
}
