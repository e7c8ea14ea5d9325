package sockperm

import (
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestGroup(t *testing.T) {
	if gid, note, err := Group("4242", true); err != nil || gid != 4242 || note != "" {
		t.Fatalf("numeric: %d %q %v", gid, note, err)
	}
	if gid, _, err := Group("root", true); err != nil || gid != 0 {
		t.Fatalf("root: %d %v", gid, err)
	}
	if _, _, err := Group("no-such-group-berth", true); err == nil || !strings.Contains(err.Error(), "no-such-group-berth") {
		t.Fatalf("an explicit unknown group must fail naming it: %v", err)
	}
	if _, _, err := Group("-3", true); err == nil {
		t.Fatal("a negative gid must fail")
	}
	if _, _, err := Group("", true); err == nil {
		t.Fatal("an explicit empty group must fail")
	}
	gid, note, err := Group("", false)
	if err != nil {
		t.Fatal(err)
	}
	if g, lerr := user.LookupGroup(DefaultGroup); lerr != nil {
		if gid != 0 || !strings.Contains(note, "docker not found") {
			t.Fatalf("no docker group: want root with a note, got %d %q", gid, note)
		}
	} else if strconv.Itoa(gid) != g.Gid || note != "" {
		t.Fatalf("docker group %s: got %d %q", g.Gid, gid, note)
	}
}

func TestApply(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := Apply(path, 4242); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o660 || st.Sys().(*syscall.Stat_t).Gid != 4242 || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("mode %v gid %d", st.Mode(), st.Sys().(*syscall.Stat_t).Gid)
	}
}
