package containers

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"
)

func TestLinkEnv(t *testing.T) {
	lc := linkedChild{
		link:  link{name: "db", alias: "my-db"},
		addrs: []netip.Addr{netip.MustParseAddr("172.17.0.5")},
		env:   []string{"PATH=/bin", "HOME=/root", "PGUSER=me"},
		ports: network.PortSet{network.MustParsePort("5432/tcp"): {}, network.MustParsePort("8000/tcp"): {}, network.MustParsePort("8001/tcp"): {}},
	}
	got := strings.Join(linkEnv("/web", lc), "\n")
	want := strings.Join([]string{
		"MY_DB_PORT=tcp://172.17.0.5:5432",
		"MY_DB_PORT_8000_TCP_START=tcp://172.17.0.5:8000",
		"MY_DB_PORT_8000_TCP_ADDR=172.17.0.5",
		"MY_DB_PORT_8000_TCP_PROTO=tcp",
		"MY_DB_PORT_8000_TCP_PORT_START=8000",
		"MY_DB_PORT_8000_TCP_END=tcp://172.17.0.5:8001",
		"MY_DB_PORT_8000_TCP_PORT_END=8001",
		"MY_DB_PORT_5432_TCP=tcp://172.17.0.5:5432",
		"MY_DB_PORT_5432_TCP_ADDR=172.17.0.5",
		"MY_DB_PORT_5432_TCP_PORT=5432",
		"MY_DB_PORT_5432_TCP_PROTO=tcp",
		"MY_DB_PORT_8000_TCP=tcp://172.17.0.5:8000",
		"MY_DB_PORT_8000_TCP_ADDR=172.17.0.5",
		"MY_DB_PORT_8000_TCP_PORT=8000",
		"MY_DB_PORT_8000_TCP_PROTO=tcp",
		"MY_DB_PORT_8001_TCP=tcp://172.17.0.5:8001",
		"MY_DB_PORT_8001_TCP_ADDR=172.17.0.5",
		"MY_DB_PORT_8001_TCP_PORT=8001",
		"MY_DB_PORT_8001_TCP_PROTO=tcp",
		"MY_DB_NAME=/web/my-db",
		"MY_DB_ENV_PGUSER=me",
	}, "\n")
	if got != want {
		t.Fatalf("env:\n%s\nwant:\n%s", got, want)
	}
	for _, bad := range []string{"", ":x", "a:b:c"} {
		if _, err := parseLink(bad); err == nil {
			t.Errorf("link %q parsed", bad)
		}
	}
	if l, _ := parseLink("/db"); l.name != "db" || l.alias != "db" {
		t.Errorf("/db: %+v", l)
	}
}
