package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestNetworkLinks: legacy links as dockerd's. On the default bridge the
// linking container gets the child in /etc/hosts (alias, hostname, name)
// and the ALIAS_* variables, its own hostname on its address, and reaches
// the child by the alias; on a user network the alias is a name only the
// linking container resolves. Bad links get dockerd's errors.
func TestNetworkLinks(t *testing.T) {
	requireNetTools(t)
	s := newStack(t)
	s.loadBusybox()
	s.dockerOut("run", "-d", "--name", "db", "--hostname", "dbhost", "-e", "PGUSER=me", "--expose", "5432", "busybox", "sleep", "300")
	dbIP := s.dockerOut("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db")
	out := s.dockerOut("run", "--name", "web", "--hostname", "webhost", "--link", "db:my-db", "busybox", "sh", "-c",
		"cat /etc/hosts; env | sort; ping -c 1 -W 3 my-db >/dev/null && echo PING-OK")
	for _, want := range []string{
		dbIP + "\tmy-db dbhost db\n",
		"MY_DB_PORT=tcp://" + dbIP + ":5432\n",
		"MY_DB_PORT_5432_TCP_ADDR=" + dbIP + "\n",
		"MY_DB_NAME=/web/my-db\n",
		"MY_DB_ENV_PGUSER=me\n",
		"PING-OK",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("linking container lacks %q:\n%s", want, out)
		}
	}
	// At its next start web's own line names its address (the run above
	// printed it before inspect could tell it), written into the same file
	// (in place: no rename at each start).
	hostsPath := s.dockerOut("inspect", "-f", "{{.HostsPath}}", "web")
	before := inode(t, hostsPath)
	if hosts := s.dockerOut("start", "-a", "web"); !strings.Contains(hosts, "\twebhost\n") || strings.Contains(hosts, "127.0.1.1") {
		t.Errorf("own hosts line:\n%s", hosts)
	}
	if after := inode(t, hostsPath); after != before {
		t.Errorf("the start replaced %s (inode %d, then %d)", hostsPath, before, after)
	}
	// Bad links: the child must exist, run, and have a network.
	s.dockerOut("create", "--name", "stopped", "busybox", "true")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--rm", "--link", "nosuch:x", "busybox", "true"}, "could not get container for nosuch"},
		{[]string{"run", "--rm", "--link", "stopped:x", "busybox", "true"}, "Cannot link to a non running container: /stopped AS /"},
		{[]string{"run", "--rm", "--network", "host", "--link", "db:x", "busybox", "true"}, "conflicting options: host type networking can't be used with links"},
	} {
		if _, errOut, code := s.docker(c.args...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("docker %v: exit %d %q, want %q", c.args, code, errOut, c.want)
		}
	}
	// On a user network a link is a name for the linking container only.
	s.dockerOut("network", "create", "--subnet", "10.236.0.0/24", "lnet")
	s.dockerOut("run", "-d", "--name", "u1", "--network", "lnet", "busybox", "sleep", "300")
	u1IP := s.dockerOut("inspect", "-f", `{{(index .NetworkSettings.Networks "lnet").IPAddress}}`, "u1")
	if out := s.dockerOut("run", "--rm", "--network", "lnet", "--link", "u1:backend", "busybox", "nslookup", "backend"); !strings.Contains(out, u1IP) {
		t.Errorf("link alias on a user network: %q", out)
	}
	if _, _, code := s.docker("exec", "u1", "nslookup", "backend"); code == 0 {
		t.Errorf("another container resolved the link alias")
	}
	s.dockerOut("rm", "-f", "db", "web", "stopped", "u1")
	if leaks := s.netLeaks(); len(leaks) > 0 {
		t.Fatalf("after rm: %v", leaks)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}
