package oci

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/specdefaults"
)

// apiFields lists the JSON names of a struct's fields ("HostConfig.CpuShares"),
// embedded structs flattened as encoding/json does.
func apiFields(prefix string, t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, apiFields(prefix, f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, prefix+"."+name)
	}
	return out
}

func allAPIFields() []string {
	var out []string
	out = append(out, apiFields("Config", reflect.TypeOf(container.Config{}))...)
	out = append(out, apiFields("HostConfig", reflect.TypeOf(container.HostConfig{}))...)
	out = append(out, apiFields("NetworkingConfig", reflect.TypeOf(network.NetworkingConfig{}))...)
	return out
}

// TestEveryFieldIsHandled fails when the API types have a field that the
// table does not say is applied or refused, or the table names a field
// that no longer exists.
func TestEveryFieldIsHandled(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range allAPIFields() {
		seen[f] = true
		if _, ok := Fields[f]; !ok {
			t.Errorf("%s: the API accepts it but nothing applies or refuses it (add it to Fields and handle it)", f)
		}
	}
	for f := range Fields {
		if !seen[f] {
			t.Errorf("%s: in Fields but not in the API types", f)
		}
	}
}

// TestFieldsDocumented keeps docs/engine.md's table true.
func TestFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/engine.md")
	if err != nil {
		t.Fatal(err)
	}
	for f, h := range Fields {
		name := f
		want := map[Handling]string{InSpec: "spec", ByEngine: "engine", ClientSide: "client", Refused: "refused"}[h]
		found := false
		for _, line := range strings.Split(string(doc), "\n") {
			if strings.HasPrefix(line, "| `"+name+"`") && strings.Contains(line, "| "+want) {
				found = true
			}
		}
		if !found {
			t.Errorf("docs/engine.md: no row \"| `%s` | %s ...\" in the create fields table", name, want)
		}
	}
}

// fill sets every field of v (a pointer) to a non-zero value, recursively.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(netip.Addr{}) {
			v.Set(reflect.ValueOf(netip.MustParseAddr("10.9.9.9")))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fill(k)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i))
		}
	}
}

// setField fills the named field of the request with a non-zero value.
func setField(t *testing.T, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) {
	part, field, _ := strings.Cut(name, ".")
	var root reflect.Value
	switch part {
	case "Config":
		root = reflect.ValueOf(cfg).Elem()
	case "HostConfig":
		root = reflect.ValueOf(hc).Elem()
	default:
		root = reflect.ValueOf(nc).Elem()
	}
	var find func(v reflect.Value) bool
	find = func(v reflect.Value) bool {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				if find(v.Field(i)) {
					return true
				}
				continue
			}
			jn, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if jn == field || jn == "" && f.Name == field {
				fill(v.Field(i))
				return true
			}
		}
		return false
	}
	if !find(root) {
		t.Fatalf("no field %s", name)
	}
}

// TestRefusedFieldsAreRefused sets each refused field and expects the
// create to fail with an error naming it.
func TestRefusedFieldsAreRefused(t *testing.T) {
	for name, h := range Fields {
		if h != Refused {
			continue
		}
		cfg := &container.Config{Cmd: []string{"true"}}
		hc := &container.HostConfig{}
		nc := &network.NetworkingConfig{}
		setField(t, name, cfg, hc, nc)
		err := Check(cfg, hc, nc)
		if err == nil {
			_, err = Spec(Options{ID: "abc", Config: cfg, Host: hc})
		}
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Field != name {
			t.Errorf("%s set: got %v, want a refusal naming it", name, err)
		}
	}
}

// inSpecSamples are valid non-default values for every InSpec field.
var inSpecSamples = map[string]func(*container.Config, *container.HostConfig){
	"Config.Hostname":           func(c *container.Config, h *container.HostConfig) { c.Hostname = "web" },
	"Config.Domainname":         func(c *container.Config, h *container.HostConfig) { c.Domainname = "example.org" },
	"Config.User":               func(c *container.Config, h *container.HostConfig) { c.User = "1000:1000" },
	"Config.Tty":                func(c *container.Config, h *container.HostConfig) { c.Tty = true },
	"Config.Env":                func(c *container.Config, h *container.HostConfig) { c.Env = []string{"A=1"} },
	"Config.Cmd":                func(c *container.Config, h *container.HostConfig) { c.Cmd = []string{"false"} },
	"Config.Entrypoint":         func(c *container.Config, h *container.HostConfig) { c.Entrypoint = []string{"/bin/sh"} },
	"Config.WorkingDir":         func(c *container.Config, h *container.HostConfig) { c.WorkingDir = "/srv" },
	"Config.NetworkDisabled":    func(c *container.Config, h *container.HostConfig) { c.NetworkDisabled = true },
	"HostConfig.NetworkMode":    func(c *container.Config, h *container.HostConfig) { h.NetworkMode = "host" },
	"HostConfig.ConsoleSize":    func(c *container.Config, h *container.HostConfig) { h.ConsoleSize = [2]uint{24, 80} },
	"HostConfig.Annotations":    func(c *container.Config, h *container.HostConfig) { h.Annotations = map[string]string{"a": "b"} },
	"HostConfig.CapAdd":         func(c *container.Config, h *container.HostConfig) { h.CapAdd = []string{"NET_ADMIN"} },
	"HostConfig.CapDrop":        func(c *container.Config, h *container.HostConfig) { h.CapDrop = []string{"CHOWN"} },
	"HostConfig.CgroupnsMode":   func(c *container.Config, h *container.HostConfig) { h.CgroupnsMode = "private" },
	"HostConfig.GroupAdd":       func(c *container.Config, h *container.HostConfig) { h.GroupAdd = []string{"4000"} },
	"HostConfig.IpcMode":        func(c *container.Config, h *container.HostConfig) { h.IpcMode = "host" },
	"HostConfig.OomScoreAdj":    func(c *container.Config, h *container.HostConfig) { h.OomScoreAdj = 500 },
	"HostConfig.PidMode":        func(c *container.Config, h *container.HostConfig) { h.PidMode = "host" },
	"HostConfig.Privileged":     func(c *container.Config, h *container.HostConfig) { h.Privileged = true },
	"HostConfig.ReadonlyRootfs": func(c *container.Config, h *container.HostConfig) { h.ReadonlyRootfs = true },
	"HostConfig.SecurityOpt":    func(c *container.Config, h *container.HostConfig) { h.SecurityOpt = []string{"no-new-privileges"} },
	"HostConfig.UTSMode":        func(c *container.Config, h *container.HostConfig) { h.UTSMode = "host" },
	"HostConfig.UsernsMode":     func(c *container.Config, h *container.HostConfig) { h.UsernsMode = "host" },
	"HostConfig.ShmSize":        func(c *container.Config, h *container.HostConfig) { h.ShmSize = 1 << 20 },
	"HostConfig.Sysctls": func(c *container.Config, h *container.HostConfig) {
		h.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
	},
	"HostConfig.Umask":         func(c *container.Config, h *container.HostConfig) { m := uint32(0o077); h.Umask = &m },
	"HostConfig.MaskedPaths":   func(c *container.Config, h *container.HostConfig) { h.MaskedPaths = []string{"/proc/x"} },
	"HostConfig.ReadonlyPaths": func(c *container.Config, h *container.HostConfig) { h.ReadonlyPaths = []string{"/proc/y"} },
	"HostConfig.Init":          func(c *container.Config, h *container.HostConfig) { b := true; h.Init = &b },
	"HostConfig.CpuShares":     func(c *container.Config, h *container.HostConfig) { h.CPUShares = 512 },
	"HostConfig.Memory":        func(c *container.Config, h *container.HostConfig) { h.Memory = 64 << 20 },
	"HostConfig.NanoCpus":      func(c *container.Config, h *container.HostConfig) { h.NanoCPUs = 5e8 },
	"HostConfig.CgroupParent":  func(c *container.Config, h *container.HostConfig) { h.CgroupParent = "mygroup" },
	"HostConfig.BlkioWeight":   func(c *container.Config, h *container.HostConfig) { h.BlkioWeight = 300 },
	"HostConfig.CpuPeriod":     func(c *container.Config, h *container.HostConfig) { h.CPUPeriod = 50000 },
	"HostConfig.CpuQuota":      func(c *container.Config, h *container.HostConfig) { h.CPUQuota = 20000 },
	"HostConfig.CpusetCpus":    func(c *container.Config, h *container.HostConfig) { h.CpusetCpus = "0" },
	"HostConfig.CpusetMems":    func(c *container.Config, h *container.HostConfig) { h.CpusetMems = "0" },
	"HostConfig.Devices": func(c *container.Config, h *container.HostConfig) {
		h.Devices = []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull"}}
	},
	"HostConfig.DeviceCgroupRules": func(c *container.Config, h *container.HostConfig) { h.DeviceCgroupRules = []string{"c 42:* rmw"} },
	"HostConfig.MemoryReservation": func(c *container.Config, h *container.HostConfig) { h.MemoryReservation = 32 << 20 },
	"HostConfig.MemorySwap":        func(c *container.Config, h *container.HostConfig) { h.MemorySwap = 128 << 20 },
	"HostConfig.MemorySwappiness":  func(c *container.Config, h *container.HostConfig) { v := int64(10); h.MemorySwappiness = &v },
	"HostConfig.OomKillDisable":    func(c *container.Config, h *container.HostConfig) { b := true; h.OomKillDisable = &b },
	"HostConfig.PidsLimit":         func(c *container.Config, h *container.HostConfig) { v := int64(10); h.PidsLimit = &v },
	"HostConfig.Ulimits": func(c *container.Config, h *container.HostConfig) {
		h.Ulimits = []*units.Ulimit{{Name: "nofile", Soft: 123, Hard: 456}}
	},
	// Throttles need a block device of the host; /dev/loop0 or the like may
	// not exist in a unit test, so these use one found at run time.
	"HostConfig.BlkioWeightDevice":    nil,
	"HostConfig.BlkioDeviceReadBps":   nil,
	"HostConfig.BlkioDeviceWriteBps":  nil,
	"HostConfig.BlkioDeviceReadIOps":  nil,
	"HostConfig.BlkioDeviceWriteIOps": nil,
}

func someBlockDevice() string {
	ents, _ := os.ReadDir("/sys/dev/block")
	for _, e := range ents {
		if target, err := os.Readlink("/sys/dev/block/" + e.Name()); err == nil {
			p := "/dev/" + target[strings.LastIndex(target, "/")+1:]
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return ""
}

// prerequisites are set in both specs compared, for fields whose effect
// shows only together with another one.
var prerequisites = map[string]func(*container.Config, *container.HostConfig){
	"Config.NetworkDisabled": func(c *container.Config, h *container.HostConfig) { h.NetworkMode = "host" },
	"HostConfig.ConsoleSize": func(c *container.Config, h *container.HostConfig) { c.Tty = true },
	"HostConfig.MemorySwap":  func(c *container.Config, h *container.HostConfig) { h.Memory = 64 << 20 },
}

// TestInSpecFieldsChangeTheSpec sets each field applied in the spec to a
// valid value and expects the spec to differ from the one without it.
func TestInSpecFieldsChangeTheSpec(t *testing.T) {
	var field string
	opts := func(c *container.Config, h *container.HostConfig) Options {
		o := Options{ID: "0123456789abcdef", Config: c, Host: h, InitPath: "/usr/bin/tini-static", HostCaps: append(specdefaults.Capabilities, "CAP_NET_ADMIN", "CAP_SYS_ADMIN")}
		if field == "HostConfig.UsernsMode" { // it shows only with --userns-remap
			o.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			o.GIDMappings = o.UIDMappings
		}
		return o
	}
	blk := someBlockDevice()
	for name, h := range Fields {
		if h != InSpec {
			continue
		}
		field = name
		sample, ok := inSpecSamples[name]
		if !ok {
			t.Errorf("%s: no sample value in this test", name)
			continue
		}
		if sample == nil {
			if blk == "" {
				continue
			}
			path := blk
			sample = func(c *container.Config, h *container.HostConfig) {
				w := &blkiodev.WeightDevice{Path: path, Weight: 100}
				td := []*blkiodev.ThrottleDevice{{Path: path, Rate: 1 << 20}}
				switch name {
				case "HostConfig.BlkioWeightDevice":
					h.BlkioWeightDevice = []*blkiodev.WeightDevice{w}
				case "HostConfig.BlkioDeviceReadBps":
					h.BlkioDeviceReadBps = td
				case "HostConfig.BlkioDeviceWriteBps":
					h.BlkioDeviceWriteBps = td
				case "HostConfig.BlkioDeviceReadIOps":
					h.BlkioDeviceReadIOps = td
				case "HostConfig.BlkioDeviceWriteIOps":
					h.BlkioDeviceWriteIOps = td
				}
			}
		}
		c := &container.Config{Cmd: []string{"true"}}
		hc := &container.HostConfig{}
		if pre := prerequisites[name]; pre != nil {
			pre(c, hc)
		}
		base, err := Spec(opts(c, hc))
		if err != nil {
			t.Errorf("%s: without it: %v", name, err)
			continue
		}
		baseJSON, _ := json.Marshal(base)
		sample(c, hc)
		if err := Check(c, hc, nil); err != nil {
			t.Errorf("%s: refused: %v", name, err)
			continue
		}
		s, err := Spec(opts(c, hc))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, _ := json.Marshal(s)
		if string(got) == string(baseJSON) {
			t.Errorf("%s: set, but the spec is the default one", name)
		}
	}
}
