package cli

// Flag value types of run/create/update: each parses one flag's syntax the
// way the docker CLI 28 does (same accepted forms, same error texts, same
// type names in the help), so that a bad value fails at parse time with
// docker's message.

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// listValue is a repeatable string flag ("list" in docker's help); check,
// when set, validates and may normalize each value.
type listValue struct {
	values []string
	check  func(string) (string, error)
}

func (l *listValue) Set(v string) error {
	if l.check != nil {
		var err error
		if v, err = l.check(v); err != nil {
			return err
		}
	}
	l.values = append(l.values, v)
	return nil
}

func (l *listValue) String() string {
	if len(l.values) == 0 {
		return ""
	}
	return fmt.Sprint(l.values)
}

func (l *listValue) Type() string { return "list" }

// orEmpty is the values, never nil: docker always sends [] for the DNS lists.
func (l *listValue) orEmpty() []string {
	if l.values == nil {
		return []string{}
	}
	return l.values
}

// mapValue is a repeatable KEY=VALUE flag ("map").
type mapValue struct {
	values map[string]string
	check  func(string) (string, error)
}

func (m *mapValue) Set(v string) error {
	if m.check != nil {
		var err error
		if v, err = m.check(v); err != nil {
			return err
		}
	}
	if m.values == nil {
		m.values = map[string]string{}
	}
	k, val, _ := strings.Cut(v, "=")
	m.values[k] = val
	return nil
}

func (m *mapValue) String() string { return fmt.Sprint(m.values) }
func (m *mapValue) Type() string   { return "map" }

// all is the map, empty rather than nil, as docker sends it.
func (m *mapValue) all() map[string]string {
	if m.values == nil {
		return map[string]string{}
	}
	return m.values
}

// bytesValue is a size such as 512m or 1g ("bytes"); withMinusOne also
// takes -1 (unlimited), as --memory-swap does.
type bytesValue struct {
	n            int64
	withMinusOne bool
}

func (b *bytesValue) Set(v string) error {
	if b.withMinusOne && v == "-1" {
		b.n = -1
		return nil
	}
	n, err := units.RAMInBytes(v)
	b.n = n
	return err
}

func (b *bytesValue) String() string {
	if b.n == 0 {
		return "0" // pflag hides "0" defaults; docker prints no "(default 0 B)"
	}
	return units.BytesSize(float64(b.n))
}

func (b *bytesValue) Type() string { return "bytes" }

// nanoCPUsValue is --cpus: a decimal number of CPUs, sent in 1e-9 CPUs.
type nanoCPUsValue int64

func (c *nanoCPUsValue) Set(v string) error {
	r, ok := new(big.Rat).SetString(v)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", v)
	}
	r.Mul(r, big.NewRat(1e9, 1))
	if !r.IsInt() {
		return errors.New("value is too precise")
	}
	*c = nanoCPUsValue(r.Num().Int64())
	return nil
}

func (c *nanoCPUsValue) String() string {
	if *c == 0 {
		return ""
	}
	return big.NewRat(int64(*c), 1e9).FloatString(3)
}

func (c *nanoCPUsValue) Type() string { return "decimal" }

// ulimitValue is --ulimit NAME=SOFT[:HARD]; one entry per name, the last
// wins, sent sorted by name.
type ulimitValue struct{ byName map[string]*container.Ulimit }

func (u *ulimitValue) Set(v string) error {
	l, err := units.ParseUlimit(v)
	if err != nil {
		return err
	}
	if u.byName == nil {
		u.byName = map[string]*container.Ulimit{}
	}
	u.byName[l.Name] = l
	return nil
}

func (u *ulimitValue) list() []*container.Ulimit {
	out := make([]*container.Ulimit, 0, len(u.byName))
	for _, l := range u.byName {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *container.Ulimit) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (u *ulimitValue) String() string {
	var s []string
	for _, l := range u.list() {
		s = append(s, l.String())
	}
	return fmt.Sprint(s)
}

func (u *ulimitValue) Type() string { return "ulimit" }

// throttleValue is --device-{read,write}-{bps,iops} DEVICE:RATE; bps takes
// sizes (1mb), iops plain integers.
type throttleValue struct {
	values []*blkiodev.ThrottleDevice
	iops   bool
}

func (t *throttleValue) Set(v string) error {
	dev, rate, err := splitDevice(v)
	if err != nil {
		return err
	}
	var n uint64
	if t.iops {
		if n, err = strconv.ParseUint(rate, 10, 64); err != nil {
			return fmt.Errorf("invalid rate for device: %s. The correct format is <device-path>:<number>. Number must be a positive integer", v)
		}
	} else {
		r, err := units.RAMInBytes(rate)
		if err != nil || r < 0 {
			return fmt.Errorf("invalid rate for device: %s. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb", v)
		}
		n = uint64(r)
	}
	t.values = append(t.values, &blkiodev.ThrottleDevice{Path: dev, Rate: n})
	return nil
}

func (t *throttleValue) String() string { return listString(t.values) }

func (t *throttleValue) Type() string { return "list" }

// list is the devices, [] when none: docker always sends the arrays.
func (t *throttleValue) list() []*blkiodev.ThrottleDevice {
	return append([]*blkiodev.ThrottleDevice{}, t.values...)
}

// weightValue is --blkio-weight-device DEVICE:WEIGHT (10-1000, or 0).
type weightValue struct{ values []*blkiodev.WeightDevice }

func (w *weightValue) Set(v string) error {
	dev, s, err := splitDevice(v)
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (n > 0 && (n < 10 || n > 1000)) {
		return fmt.Errorf("invalid weight for device: %s", v)
	}
	w.values = append(w.values, &blkiodev.WeightDevice{Path: dev, Weight: uint16(n)})
	return nil
}

func (w *weightValue) String() string { return listString(w.values) }

// listString shows list values as docker's help does: [a b].
func listString[T fmt.Stringer](values []T) string {
	s := make([]string, 0, len(values))
	for _, v := range values {
		s = append(s, v.String())
	}
	return fmt.Sprint(s)
}

func (w *weightValue) Type() string { return "list" }

func (w *weightValue) list() []*blkiodev.WeightDevice {
	return append([]*blkiodev.WeightDevice{}, w.values...)
}

func splitDevice(v string) (dev, rest string, err error) {
	dev, rest, ok := strings.Cut(v, ":")
	if !ok || dev == "" {
		return "", "", fmt.Errorf("bad format: %s", v)
	}
	if !strings.HasPrefix(dev, "/dev/") {
		return "", "", fmt.Errorf("bad format for device path: %s", v)
	}
	return dev, rest, nil
}

// gpusValue is --gpus: "all", a count, or CSV fields (driver, count,
// device, capabilities, options), each turned into a DeviceRequest.
type gpusValue struct{ values []container.DeviceRequest }

func gpuCount(s string) (int, error) {
	if s == "all" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return 0, fmt.Errorf(`invalid count (%s): value must be either "all" or an integer: %w`, s, err)
	}
	return n, nil
}

func (g *gpusValue) Set(v string) error {
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return err
	}
	req := container.DeviceRequest{}
	seen := map[string]bool{}
	for _, f := range fields {
		key, val, hasVal := strings.Cut(f, "=")
		if seen[key] {
			return fmt.Errorf("gpu request key '%s' can be specified only once", key)
		}
		seen[key] = true
		if !hasVal { // a bare field is the count
			seen["count"] = true
			if req.Count, err = gpuCount(key); err != nil {
				return err
			}
			continue
		}
		switch key {
		case "driver":
			req.Driver = val
		case "count":
			if req.Count, err = gpuCount(val); err != nil {
				return err
			}
		case "device":
			req.DeviceIDs = strings.Split(val, ",")
		case "capabilities":
			req.Capabilities = [][]string{append(strings.Split(val, ","), "gpu")}
		case "options":
			opts, err := csv.NewReader(strings.NewReader(val)).Read()
			if err != nil {
				return fmt.Errorf("failed to read gpu options: %w", err)
			}
			req.Options = kvMap(opts)
		default:
			return fmt.Errorf("unexpected key '%s' in '%s'", key, f)
		}
	}
	if !seen["count"] && req.DeviceIDs == nil {
		req.Count = 1
	}
	if req.Options == nil {
		req.Options = map[string]string{}
	}
	if req.Capabilities == nil {
		req.Capabilities = [][]string{{"gpu"}}
	}
	g.values = append(g.values, req)
	return nil
}

func (g *gpusValue) String() string {
	s := make([]string, 0, len(g.values))
	for _, r := range g.values {
		s = append(s, fmt.Sprint(r))
	}
	return strings.Join(s, ", ")
}

func (g *gpusValue) Type() string { return "gpu-request" }

// kvMap splits KEY=VALUE strings; a bare KEY maps to "".
func kvMap(kvs []string) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// mountValue is --mount, CSV key=value fields as docker's.
type mountValue struct{ values []mount.Mount }

func (mv *mountValue) Set(v string) error {
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return err
	}
	m := mount.Mount{Type: mount.TypeVolume}
	volOpts := func() *mount.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{Labels: map[string]string{}}
		}
		if m.VolumeOptions.DriverConfig == nil {
			m.VolumeOptions.DriverConfig = &mount.Driver{}
		}
		return m.VolumeOptions
	}
	bindOpts := func() *mount.BindOptions {
		if m.BindOptions == nil {
			m.BindOptions = &mount.BindOptions{}
		}
		return m.BindOptions
	}
	tmpfsOpts := func() *mount.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	putKV := func(to map[string]string, kv string) {
		if k, v, _ := strings.Cut(kv, "="); k != "" {
			to[k] = v
		}
	}
	boolOf := func(key, val string) (bool, error) {
		b, err := strconv.ParseBool(val)
		if err != nil {
			return false, fmt.Errorf("invalid value for %s: %s", key, val)
		}
		return b, nil
	}
	for _, f := range fields {
		key, val, hasVal := strings.Cut(f, "=")
		key = strings.ToLower(key)
		if !hasVal {
			switch key {
			case "readonly", "ro":
				m.ReadOnly = true
			case "volume-nocopy":
				volOpts().NoCopy = true
			case "bind-nonrecursive":
				bindOpts().NonRecursive = true
			default:
				return fmt.Errorf("invalid field '%s' must be a key=value pair", f)
			}
			continue
		}
		switch key {
		case "type":
			m.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			m.Source = absIfRelative(val)
		case "target", "dst", "destination":
			m.Target = val
		case "readonly", "ro":
			if m.ReadOnly, err = boolOf(key, val); err != nil {
				return err
			}
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bindOpts().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-nonrecursive":
			if bindOpts().NonRecursive, err = boolOf(key, val); err != nil {
				return err
			}
		case "bind-recursive":
			switch val {
			case "enabled":
			case "disabled":
				bindOpts().NonRecursive = true
			case "writable":
				bindOpts().ReadOnlyNonRecursive = true
			case "readonly":
				bindOpts().ReadOnlyForceRecursive = true
			default:
				return fmt.Errorf(`invalid value for %s: %s (must be "enabled", "disabled", "writable", or "readonly")`, key, val)
			}
		case "volume-subpath":
			volOpts().Subpath = val
		case "volume-nocopy":
			if volOpts().NoCopy, err = strconv.ParseBool(val); err != nil {
				return fmt.Errorf("invalid value for volume-nocopy: %s", val)
			}
		case "volume-label":
			putKV(volOpts().Labels, val)
		case "volume-driver":
			volOpts().DriverConfig.Name = val
		case "volume-opt":
			if volOpts().DriverConfig.Options == nil {
				volOpts().DriverConfig.Options = map[string]string{}
			}
			putKV(volOpts().DriverConfig.Options, val)
		case "image-subpath":
			if m.ImageOptions == nil {
				m.ImageOptions = &mount.ImageOptions{}
			}
			m.ImageOptions.Subpath = val
		case "tmpfs-size":
			n, err := units.RAMInBytes(val)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().Mode = os.FileMode(n)
		default:
			return fmt.Errorf("unexpected key '%s' in '%s'", key, f)
		}
	}
	if m.Type == "" {
		return errors.New("type is required")
	}
	if m.Target == "" {
		return errors.New("target is required")
	}
	for _, mix := range []struct {
		set    bool
		prefix string
		typ    mount.Type
	}{
		{m.VolumeOptions != nil, "volume", mount.TypeVolume},
		{m.ImageOptions != nil, "image", mount.TypeImage},
		{m.BindOptions != nil, "bind", mount.TypeBind},
		{m.TmpfsOptions != nil, "tmpfs", mount.TypeTmpfs},
	} {
		if mix.set && m.Type != mix.typ {
			return fmt.Errorf("cannot mix '%s-*' options with mount type '%s'", mix.prefix, m.Type)
		}
	}
	if b := m.BindOptions; b != nil {
		if b.ReadOnlyNonRecursive && !m.ReadOnly {
			return errors.New("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction")
		}
		if b.ReadOnlyForceRecursive {
			if !m.ReadOnly {
				return errors.New("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction")
			}
			if b.Propagation != mount.PropagationRPrivate {
				return errors.New("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction")
			}
		}
	}
	mv.values = append(mv.values, m)
	return nil
}

func (mv *mountValue) String() string {
	s := make([]string, 0, len(mv.values))
	for _, m := range mv.values {
		s = append(s, fmt.Sprintf("%s %s %s", m.Type, m.Source, m.Target))
	}
	return strings.Join(s, ", ")
}

func (mv *mountValue) Type() string { return "mount" }

// absIfRelative makes "./x" and "../x" host paths absolute, as docker does
// for bind sources; other values (volume names) are left alone.
func absIfRelative(p string) string {
	if !filepath.IsAbs(p) && strings.HasPrefix(p, ".") {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return p
}

// networkAttachment is one --network value.
type networkAttachment struct {
	target       string
	aliases      []string
	driverOpts   map[string]string
	links        []string
	ipv4, ipv6   string
	linkLocalIPs []string
	mac          string
	gwPriority   int
}

// networkValue is --network NAME or the advanced CSV form
// name=NET,alias=A,ip=IP,ip6=IP,mac-address=MAC,link-local-ip=IP,driver-opt=K=V,gw-priority=N.
type networkValue struct{ values []networkAttachment }

var advancedNetworkSyntax = regexp.MustCompile(`\w+=\w+(,\w+=\w+)*`)

func (n *networkValue) Set(v string) error {
	if !advancedNetworkSyntax.MatchString(v) {
		n.values = append(n.values, networkAttachment{target: v})
		return nil
	}
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return err
	}
	a := networkAttachment{aliases: []string{}}
	for _, f := range fields {
		key, val, ok := strings.Cut(strings.ToLower(f), "=")
		if !ok || key == "" {
			return fmt.Errorf("invalid field %s", f)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "name":
			a.target = val
		case "alias":
			a.aliases = append(a.aliases, val)
		case "ip":
			a.ipv4 = val
		case "ip6":
			a.ipv6 = val
		case "mac-address":
			a.mac = val
		case "link-local-ip":
			a.linkLocalIPs = append(a.linkLocalIPs, val)
		case "driver-opt":
			k, dv, ok := strings.Cut(val, "=")
			if !ok || k == "" {
				return errors.New("invalid key value pair format in driver options")
			}
			if a.driverOpts == nil {
				a.driverOpts = map[string]string{}
			}
			a.driverOpts[strings.TrimSpace(k)] = strings.TrimSpace(dv)
		case "gw-priority":
			p, err := strconv.Atoi(val)
			if err != nil {
				var ne *strconv.NumError
				if errors.As(err, &ne) {
					err = ne.Err
				}
				return fmt.Errorf("invalid gw-priority (%s): %w", val, err)
			}
			a.gwPriority = p
		default:
			return errors.New("invalid field key " + key)
		}
	}
	if a.target == "" {
		return errors.New("network name/id is not specified")
	}
	n.values = append(n.values, a)
	return nil
}

func (n *networkValue) String() string { return "" }
func (n *networkValue) Type() string   { return "network" }

// mode is the HostConfig.NetworkMode: the first network, else "default".
func (n *networkValue) mode() string {
	if len(n.values) == 0 {
		return "default"
	}
	return n.values[0].target
}

// Validators of list values, with docker's messages.

func checkAttach(v string) (string, error) {
	s := strings.ToLower(v)
	if s == "stdin" || s == "stdout" || s == "stderr" {
		return s, nil
	}
	return v, errors.New("valid streams are STDIN, STDOUT and STDERR")
}

// checkEnv takes KEY=VALUE, or KEY alone, which takes ctl's own value of
// KEY when it has one.
func checkEnv(v string) (string, error) {
	k, _, hasValue := strings.Cut(v, "=")
	if k == "" {
		return "", errors.New("invalid environment variable: " + v)
	}
	if hasValue {
		return v, nil
	}
	if val, ok := os.LookupEnv(k); ok {
		return k + "=" + val, nil
	}
	return v, nil
}

func checkLabel(v string) (string, error) {
	k, _, _ := strings.Cut(v, "=")
	k = strings.TrimLeft(k, " \t")
	if k == "" {
		return "", fmt.Errorf("invalid label '%s': empty name", v)
	}
	if strings.ContainsAny(k, " \t") {
		return "", fmt.Errorf("label '%s' contains whitespaces", k)
	}
	return v, nil
}

func checkIP(v string) (string, error) {
	if ip := net.ParseIP(strings.TrimSpace(v)); ip != nil {
		return ip.String(), nil
	}
	return "", fmt.Errorf("IP address is not correctly formatted: %s", v)
}

var domainName = regexp.MustCompile(`^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$`)

// checkDNSSearch takes a domain, or "." for none.
func checkDNSSearch(v string) (string, error) {
	if v = strings.Trim(v, " "); v == "." {
		return v, nil
	}
	if !strings.ContainsFunc(v, func(r rune) bool { return r < 128 && ('a' <= r|0x20 && r|0x20 <= 'z') }) {
		return "", fmt.Errorf("%s is not a valid domain", v)
	}
	if m := domainName.FindStringSubmatch(v); len(m) > 0 && len(m[1]) < 255 {
		return m[1], nil
	}
	return "", fmt.Errorf("%s is not a valid domain", v)
}

// checkExtraHost takes HOST:IP or HOST=IP (IP may be [v6] or host-gateway)
// and sends HOST:IP.
func checkExtraHost(v string) (string, error) {
	k, ip, ok := strings.Cut(v, "=")
	if !ok {
		k, ip, ok = strings.Cut(v, ":")
	}
	if !ok || k == "" || strings.Contains(k, ":") {
		return "", fmt.Errorf("bad format for add-host: %q", v)
	}
	if ip != "host-gateway" {
		if len(ip) > 2 && ip[0] == '[' && ip[len(ip)-1] == ']' {
			ip = ip[1 : len(ip)-1]
		}
		if _, err := checkIP(ip); err != nil {
			return "", fmt.Errorf("invalid IP address in add-host: %q", ip)
		}
	}
	return k + ":" + ip, nil
}

// checkLink takes NAME or NAME:ALIAS.
func checkLink(v string) (string, error) {
	if v == "" {
		return v, errors.New("empty string specified for links")
	}
	if strings.Count(v, ":") > 1 {
		return v, errors.New("bad format for links: " + v)
	}
	return v, nil
}

// checkSysctl allows only the namespaced sysctls docker allows: the IPC
// ones and net.*, fs.mqueue.*.
func checkSysctl(v string) (string, error) {
	k, _, ok := strings.Cut(v, "=")
	if ok && k != "" {
		switch {
		case slices.Contains([]string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
			"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}, k),
			strings.HasPrefix(k, "net."), strings.HasPrefix(k, "fs.mqueue."):
			return v, nil
		}
	}
	return "", fmt.Errorf("sysctl '%s' is not allowed", v)
}

var deviceCgroupRule = regexp.MustCompile(`^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$`)

func checkDeviceCgroupRule(v string) (string, error) {
	if deviceCgroupRule.MatchString(v) {
		return v, nil
	}
	return v, fmt.Errorf("invalid device cgroup format '%s'", v)
}
