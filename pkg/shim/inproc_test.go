package shim

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/berthd/berth/pkg/runtime/container"
)

// parseSub takes only the command lines runtimeCLI builds for the commands
// run in the shim's process; anything else goes to the runtime's command
// line, which owns its parsing.
func TestParseSub(t *testing.T) {
	for _, tc := range []struct {
		sub   []string
		ok    bool
		cmd   string
		id    string
		flags map[string]string
		bools map[string]bool
		extra []string
	}{
		{sub: []string{"create", "--bundle", "/b", "--pid-file", "/p", "c1"}, ok: true, cmd: "create", id: "c1",
			flags: map[string]string{"--bundle": "/b", "--pid-file": "/p"}, bools: map[string]bool{}, extra: []string{}},
		{sub: []string{"create", "--bundle", "/b", "--console-socket", "/s", "c1"}, ok: true, cmd: "create", id: "c1",
			flags: map[string]string{"--bundle": "/b", "--console-socket": "/s"}, bools: map[string]bool{}, extra: []string{}},
		{sub: []string{"start", "c1"}, ok: true, cmd: "start", id: "c1", flags: map[string]string{}, bools: map[string]bool{}, extra: []string{}},
		{sub: []string{"kill", "--all", "c1", "9"}, ok: true, cmd: "kill", id: "c1",
			flags: map[string]string{}, bools: map[string]bool{"--all": true}, extra: []string{"9"}},
		{sub: []string{"delete", "--force", "c1"}, ok: true, cmd: "delete", id: "c1",
			flags: map[string]string{}, bools: map[string]bool{"--force": true}, extra: []string{}},
		{sub: []string{"exec", "--process", "/p", "c1"}},       // not run here
		{sub: []string{"create", "--preserve-fds", "2", "c1"}}, // a flag it does not apply
		{sub: []string{"create", "--bundle"}},                  // value missing
		{sub: []string{"start"}},                               // no ID
		{sub: []string{"start", "c1", "c2"}},                   // two IDs
		{sub: []string{"kill", "c1", "9", "x"}},                // too many
		{sub: []string{"delete", "--force=true", "c1"}},        // another spelling: the command line's
		{sub: nil},
	} {
		cmd, flags, bools, id, extra, ok := parseSub(tc.sub)
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.sub, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if cmd != tc.cmd || id != tc.id || !reflect.DeepEqual(flags, tc.flags) || !reflect.DeepEqual(bools, tc.bools) || !reflect.DeepEqual(extra, tc.extra) {
			t.Errorf("%q: got %q %v %v %q %q", tc.sub, cmd, flags, bools, id, extra)
		}
	}
}

// Only a runtime binary with runtime-init beside it (resolved through a
// symlink, as /proc/self/exe would be) is run in the shim's process; any
// other (runc, named berth's by mistake) keeps its command line.
func TestRuntimeHelperDir(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	rt := filepath.Join(bin, "runtime")
	if err := os.WriteFile(rt, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "berth-runtime")
	if err := os.Symlink(rt, link); err != nil {
		t.Fatal(err)
	}
	if d, err := runtimeHelperDir(rt); err == nil {
		t.Fatalf("no helper beside it: got %q", d)
	}
	if err := os.WriteFile(filepath.Join(bin, container.InitHelper), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{rt, link} {
		d, err := runtimeHelperDir(b)
		if err != nil || d != bin {
			t.Errorf("%s: %q %v, want %q", b, d, err, bin)
		}
	}
}
