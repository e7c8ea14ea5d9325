package oci

import (
	"reflect"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestCommand(t *testing.T) {
	img := &ocispec.ImageConfig{Entrypoint: []string{"/entry"}, Cmd: []string{"default"}}
	cases := []struct {
		name string
		cfg  container.Config
		img  *ocispec.ImageConfig
		want []string
	}{
		{"image defaults", container.Config{}, img, []string{"/entry", "default"}},
		{"cmd replaces image cmd", container.Config{Cmd: []string{"x", "y"}}, img, []string{"/entry", "x", "y"}},
		{"entrypoint drops image cmd", container.Config{Entrypoint: []string{"/e2"}}, img, []string{"/e2"}},
		{"entrypoint and cmd", container.Config{Entrypoint: []string{"/e2"}, Cmd: []string{"a"}}, img, []string{"/e2", "a"}},
		{"empty entrypoint resets", container.Config{Entrypoint: []string{}, Cmd: []string{"sh"}}, img, []string{"sh"}},
		{"no image", container.Config{Cmd: []string{"true"}}, nil, []string{"true"}},
	}
	for _, c := range cases {
		got, err := Command(&c.cfg, c.img)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
	if _, err := Command(&container.Config{}, &ocispec.ImageConfig{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("no command: %v", err)
	}
}

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"PATH=/bin", "A=1", "B=2"}, []string{"B=3", "C=4", "A="})
	want := []string{"PATH=/bin", "A=", "B=3", "C=4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}

func TestSpecDefaults(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	s, err := Spec(Options{
		ID:        id,
		Config:    &container.Config{Cmd: []string{"sh"}, Env: []string{"FOO=bar"}, WorkingDir: "/w"},
		Image:     &ocispec.Image{Config: ocispec.ImageConfig{Env: []string{"FOO=img", "X=1"}, User: "5:6"}},
		HostsPath: "/d/hosts", HostnamePath: "/d/hostname", ResolvConfPath: "/d/resolv.conf",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Hostname != id[:12] || s.Linux.CgroupsPath != "berth/"+id || s.Process.Cwd != "/w" || s.Process.User.UID != 5 || s.Process.User.GID != 6 {
		t.Errorf("spec: hostname %q cgroups %q cwd %q user %+v", s.Hostname, s.Linux.CgroupsPath, s.Process.Cwd, s.Process.User)
	}
	wantEnv := []string{"PATH=" + DefaultPath, "FOO=bar", "X=1", "HOSTNAME=" + id[:12]}
	if !reflect.DeepEqual(s.Process.Env, wantEnv) {
		t.Errorf("env %v, want %v", s.Process.Env, wantEnv)
	}
	var ns []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, n.Type)
	}
	for _, want := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace, specs.NetworkNamespace} {
		if !slices.Contains(ns, want) {
			t.Errorf("namespace %s missing", want)
		}
	}
	if slices.Contains(ns, specs.UserNamespace) {
		t.Error("unexpected user namespace")
	}
	dests := map[string]specs.Mount{}
	for _, m := range s.Mounts {
		dests[m.Destination] = m
	}
	for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"} {
		if _, ok := dests[d]; !ok {
			t.Errorf("mount %s missing", d)
		}
	}
	if !slices.Contains(dests["/sys"].Options, "ro") || !slices.Contains(dests["/sys/fs/cgroup"].Options, "ro") {
		t.Error("/sys must be read-only")
	}
	if dests["/etc/hosts"].Source != "/d/hosts" {
		t.Errorf("hosts bind %+v", dests["/etc/hosts"])
	}
	if len(s.Process.Capabilities.Bounding) != 14 || slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
		t.Errorf("caps %v", s.Process.Capabilities.Bounding)
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Error("masked/readonly paths")
	}
	if s.Process.Terminal {
		t.Error("terminal without Tty")
	}
}

func TestSpecTtyAndHostname(t *testing.T) {
	s, err := Spec(Options{ID: "abc", Config: &container.Config{Cmd: []string{"sh"}, Tty: true, Hostname: "box"}})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Process.Terminal || s.Hostname != "box" || !slices.Contains(s.Process.Env, "TERM=xterm") || !slices.Contains(s.Process.Env, "HOSTNAME=box") {
		t.Errorf("%+v %v", s.Process, s.Hostname)
	}
}
