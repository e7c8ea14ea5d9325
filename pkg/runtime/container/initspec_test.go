package container

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Everything init reads from the spec survives the trip through initSpec
// and its JSON.
func TestInitSpecCarriesWhatInitUses(t *testing.T) {
	mode := 0o620
	s := &specs.Spec{
		Version:    specs.Version,
		Process:    &specs.Process{Args: []string{"sh"}, Cwd: "/w", Env: []string{"A=1"}, Terminal: true, User: specs.User{UID: 1, GID: 2, AdditionalGids: []uint32{3}}, Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 10, Soft: 5}}, NoNewPrivileges: true, Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}}, ConsoleSize: &specs.Box{Height: 4, Width: 5}},
		Root:       &specs.Root{Path: "rootfs", Readonly: true},
		Hostname:   "h",
		Domainname: "d",
		Mounts:     []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid"}}},
		Hooks: &specs.Hooks{
			CreateContainer: []specs.Hook{{Path: "/bin/cc", Args: []string{"cc"}}},
			StartContainer:  []specs.Hook{{Path: "/bin/sc"}},
			Prestart:        []specs.Hook{{Path: "/bin/parent-runs-this"}},
		},
		Annotations: map[string]string{"a": "b"},
		Linux: &specs.Linux{
			UIDMappings:       []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
			GIDMappings:       []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
			Sysctl:            map[string]string{"net.ipv4.ip_forward": "1"},
			Namespaces:        []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}, {Type: specs.MountNamespace}},
			TimeOffsets:       map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}},
			Devices:           []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 2, FileMode: func() *os.FileMode { m := os.FileMode(mode); return &m }()}},
			RootfsPropagation: "rslave",
			MaskedPaths:       []string{"/proc/kcore"},
			ReadonlyPaths:     []string{"/proc/sys"},
			MountLabel:        "l",
		},
	}
	b, err := json.Marshal(newInitSpec(s))
	if err != nil {
		t.Fatal(err)
	}
	var is initSpec
	if err := json.Unmarshal(b, &is); err != nil {
		t.Fatal(err)
	}
	got := is.spec()
	want := *s
	wantLinux := *s.Linux
	want.Linux = &wantLinux
	// What init does not get: the parent runs these hooks itself.
	want.Hooks = &specs.Hooks{CreateContainer: s.Hooks.CreateContainer, StartContainer: s.Hooks.StartContainer}
	if !reflect.DeepEqual(got, &want) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(&want)
		t.Errorf("init got\n%s\nwant\n%s", gb, wb)
	}
}

// The config init decodes must not reach the big spec types: decoding them
// costs init 0.5 ms or more (see initSpec).
func TestInitConfigStaysSmall(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(tp reflect.Type) {
		for tp.Kind() == reflect.Pointer || tp.Kind() == reflect.Slice || tp.Kind() == reflect.Array || tp.Kind() == reflect.Map {
			if tp.Kind() == reflect.Map {
				walk(tp.Key())
			}
			tp = tp.Elem()
		}
		if tp.Kind() != reflect.Struct || seen[tp] {
			return
		}
		seen[tp] = true
		for i := 0; i < tp.NumField(); i++ {
			if f := tp.Field(i); f.IsExported() && f.Tag.Get("json") != "-" {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(initConfig{}))
	for _, big := range []any{specs.Spec{}, specs.Linux{}, specs.LinuxResources{}, specs.LinuxSeccomp{}} {
		if seen[reflect.TypeOf(big)] {
			t.Errorf("init's config reaches %T", big)
		}
	}
	if len(seen) > 30 {
		t.Errorf("init's config reaches %d struct types; keep it lean", len(seen))
	}
	t.Logf("%d struct types", len(seen))
}
