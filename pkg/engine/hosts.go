package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// TLS is engined's TLS for tcp:// hosts, with dockerd's flags: --tlsverify
// (implies --tls) asks every client for a certificate signed by --tlscacert;
// the server presents --tlscert/--tlskey.
type TLS struct {
	TLS, Verify bool
	// Explicit says --tls was given: --tls=false is the deliberate choice of
	// plain TCP, the only way to get it.
	Explicit          bool
	CACert, Cert, Key string
}

// DefaultCertDir is where the TLS files are looked for by default, as
// dockerd: $DOCKER_CERT_PATH, else ~/.docker.
func DefaultCertDir() string {
	if d := os.Getenv("DOCKER_CERT_PATH"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

// ErrPlainTCP refuses a tcp:// host without TLS client verification.
var ErrPlainTCP = errors.New("-H tcp:// needs --tlsverify with --tlscacert, --tlscert and --tlskey: without client certificates anyone who reaches the port is root on this host (give --tls=false to serve plain TCP anyway)")

// host is one parsed -H address.
type host struct {
	raw, proto, addr string
	plain            bool // tcp without TLS (--tls=false)
}

// hostPlan is the checked -H list: bad hosts and TLS files fail here, at
// start, before anything is made.
type hostPlan struct {
	hosts []host
	tls   *tls.Config
}

func planHosts(hosts []string, t TLS) (*hostPlan, error) {
	p := &hostPlan{}
	for _, h := range hosts {
		proto, addr, ok := strings.Cut(h, "://")
		if !ok {
			proto, addr = "unix", h
		}
		hh := host{raw: h, proto: proto, addr: addr}
		switch proto {
		case "unix":
			if addr == "" {
				return nil, fmt.Errorf("host %q: no socket path", h)
			}
		case "tcp":
			hh.plain = t.Explicit && !t.TLS && !t.Verify
			if !hh.plain && !t.Verify {
				return nil, fmt.Errorf("host %s: %w", h, ErrPlainTCP)
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				// dockerd's default ports: 2376 with TLS, 2375 without.
				if hh.plain {
					hh.addr += ":2375"
				} else {
					hh.addr += ":2376"
				}
			}
			if !hh.plain && p.tls == nil {
				var err error
				if p.tls, err = serverTLS(t); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("host %q: only unix:// and tcp:// hosts are supported", h)
		}
		p.hosts = append(p.hosts, hh)
	}
	return p, nil
}

// listen opens every host: unix sockets root:gid mode 0660, tcp ones
// behind mutual TLS. Nothing is left open when one fails.
func (p *hostPlan) listen(gid int, log *slog.Logger) (ls []net.Listener, socks []string, err error) {
	defer func() {
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			ls, socks = nil, nil
		}
	}()
	for _, h := range p.hosts {
		if h.proto == "unix" {
			l, err := Listen(h.addr, gid)
			if err != nil {
				return ls, socks, fmt.Errorf("host %s: %w", h.raw, err)
			}
			ls, socks = append(ls, l), append(socks, h.addr)
			continue
		}
		l, err := net.Listen("tcp", h.addr)
		if err != nil {
			return ls, socks, fmt.Errorf("host %s: %w", h.raw, err)
		}
		if h.plain {
			log.Warn("serving the Engine API on plain TCP without authentication (--tls=false): anyone who reaches this address is root on this host", "address", l.Addr().String())
		} else {
			l = tls.NewListener(l, p.tls)
		}
		ls = append(ls, l)
	}
	return ls, socks, nil
}

// serverTLS is the server side of mutual TLS: the client must present a
// certificate signed by the CA (TLS 1.2 at least, as dockerd).
func serverTLS(t TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("--tlscert %s / --tlskey %s: %w", t.Cert, t.Key, err)
	}
	pem, err := os.ReadFile(t.CACert)
	if err != nil {
		return nil, fmt.Errorf("--tlscacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tlscacert %s: no PEM certificate in it", t.CACert)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
