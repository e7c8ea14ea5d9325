package userns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func files(t *testing.T, subuid, subgid string) Files {
	dir := t.TempDir()
	w := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return Files{
		Passwd: w("passwd", "root:x:0:0::/root:/bin/sh\nremap:x:1500:1600::/:/bin/false\nother:x:1501:1601::/:/bin/false\n"),
		Group:  w("group", "root:x:0:\nremap:x:1600:\nteam:x:1700:\n"),
		SubUID: w("subuid", subuid),
		SubGID: w("subgid", subgid),
	}
}

func TestResolve(t *testing.T) {
	f := files(t, "remap:300000:1000\nremap:100000:65536\nother:500000:10\n", "remap:200000:65536\nteam:400000:100\n")
	r, err := Resolve("remap", f)
	if err != nil {
		t.Fatal(err)
	}
	// Ranges laid end to end by host id, from container id 0.
	want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}, {ContainerID: 65536, HostID: 300000, Size: 1000}}
	if len(r.UIDs) != 2 || r.UIDs[0] != want[0] || r.UIDs[1] != want[1] {
		t.Fatalf("uids %v, want %v", r.UIDs, want)
	}
	if len(r.GIDs) != 1 || r.GIDs[0].HostID != 200000 {
		t.Fatalf("gids %v", r.GIDs)
	}
	if uid, gid := r.Root(); uid != 100000 || gid != 200000 {
		t.Fatalf("root %d:%d", uid, gid)
	}
	if u, g, err := r.ToHost(65537, 5); err != nil || u != 300001 || g != 200005 {
		t.Fatalf("ToHost: %d %d %v", u, g, err)
	}
	if _, _, err := r.ToHost(70000, 0); err == nil {
		t.Fatal("unmapped uid mapped")
	}
	// By uid, and with a group of its own.
	r, err = Resolve("1500:team", f)
	if err != nil || r.User != "remap" || r.Group != "team" || r.GIDs[0].HostID != 400000 {
		t.Fatalf("1500:team: %+v %v", r, err)
	}
	if r, err := Resolve("", f); r != nil || err != nil {
		t.Fatal("empty flag made a mapping")
	}
	for value, msg := range map[string]string{
		"nosuch":       `no user "nosuch"`,
		"other":        `no subordinate ids for "other"`,
		"remap:nogrp":  `no group "nogrp"`,
		"default:team": "default takes no group",
	} {
		if _, err := Resolve(value, f); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", value, err, msg)
		}
	}
	// A range from 0 would map the host's root into containers.
	if _, err := Resolve("remap", files(t, "remap:0:65536\n", "remap:0:65536\n")); err == nil {
		t.Error("range at 0 accepted")
	}
}

func TestCheckReachable(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(dir), 0o711)
	os.Chmod(dir, 0o711)
	if err := CheckReachable(filepath.Join(deep, "notyet"), 100000, 100000); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "a"), 0o700)
	if err := CheckReachable(deep, 100000, 100000); err == nil || !strings.Contains(err.Error(), "0700") {
		t.Fatalf("0700 parent: %v", err)
	}
	os.Chown(filepath.Join(dir, "a"), 0, 100000)
	os.Chmod(filepath.Join(dir, "a"), 0o710)
	if os.Getuid() == 0 {
		if err := CheckReachable(deep, 100000, 100000); err != nil {
			t.Fatalf("group search: %v", err)
		}
	}
}
