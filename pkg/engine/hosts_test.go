package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestPlanHosts(t *testing.T) {
	for _, c := range []struct {
		hosts []string
		tls   TLS
		want  string // "" ok, else part of the error
	}{
		{[]string{"unix:///run/x.sock"}, TLS{}, ""},
		{[]string{"/run/x.sock"}, TLS{}, ""},
		{[]string{"tcp://127.0.0.1:2376"}, TLS{}, "--tlsverify"},
		{[]string{"tcp://127.0.0.1:2376"}, TLS{TLS: true, Explicit: true}, "--tlsverify"},
		{[]string{"tcp://127.0.0.1"}, TLS{Explicit: true}, ""},
		{[]string{"tcp://127.0.0.1"}, TLS{TLS: true, Verify: true, CACert: "/nonexistent/ca.pem", Cert: "/nonexistent/c.pem", Key: "/nonexistent/k.pem"}, "/nonexistent/c.pem"},
		{[]string{"fd://"}, TLS{}, "only unix:// and tcp://"},
		{[]string{"unix://"}, TLS{}, "no socket path"},
	} {
		p, err := planHosts(c.hosts, c.tls)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v %+v: %v", c.hosts, c.tls, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v %+v: want an error with %q, got %v", c.hosts, c.tls, c.want, err)
		case c.want == "" && c.hosts[0] == "tcp://127.0.0.1" && p.hosts[0].addr != "127.0.0.1:2375":
			t.Errorf("plain tcp without a port: %s, want dockerd's 2375", p.hosts[0].addr)
		}
	}
	if _, err := planHosts([]string{"tcp://0.0.0.0:1"}, TLS{}); !errors.Is(err, ErrPlainTCP) {
		t.Fatalf("plain tcp must be ErrPlainTCP: %v", err)
	}
}
