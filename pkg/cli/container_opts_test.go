package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"

	"github.com/berthd/berth/pkg/testprereq"
)

// parseArgs parses the container flags of a run/create command line,
// IMAGE [COMMAND...] after them, as the commands do.
func parseArgs(args ...string) (*containerConfig, error) {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	fs.SetOutput(io.Discard)
	o := addContainerFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	rest := fs.Args()
	return o.parse(fs, rest[0], rest[1:])
}

// dockerDefaults is the request docker 28 sends for `docker create IMAGE`
// (recorded from the docker binary against a fake engine).
func dockerDefaults(image string) *containerConfig {
	swappiness, oomKillDisable, pids := int64(-1), false, int64(0)
	return &containerConfig{
		Config: &container.Config{
			AttachStdout: true, AttachStderr: true,
			ExposedPorts: network.PortSet{},
			Image:        image,
			Volumes:      map[string]struct{}{},
			Labels:       map[string]string{},
		},
		HostConfig: &container.HostConfig{
			LogConfig:     container.LogConfig{Config: map[string]string{}},
			NetworkMode:   "default",
			PortBindings:  network.PortMap{},
			RestartPolicy: container.RestartPolicy{Name: "no"},
			DNS:           []netip.Addr{},
			DNSOptions:    []string{},
			DNSSearch:     []string{},
			StorageOpt:    map[string]string{},
			Tmpfs:         map[string]string{},
			Sysctls:       map[string]string{},
			Annotations:   map[string]string{},
			Resources: container.Resources{
				BlkioWeightDevice:    []*blkiodev.WeightDevice{},
				BlkioDeviceReadBps:   []*blkiodev.ThrottleDevice{},
				BlkioDeviceWriteBps:  []*blkiodev.ThrottleDevice{},
				BlkioDeviceReadIOps:  []*blkiodev.ThrottleDevice{},
				BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{},
				Devices:              []container.DeviceMapping{},
				MemorySwappiness:     &swappiness,
				OomKillDisable:       &oomKillDisable,
				PidsLimit:            &pids,
				Ulimits:              []*container.Ulimit{},
			},
		},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			"default": {},
		}},
	}
}

func ptr[T any](v T) *T { return &v }

func port(s string) network.Port { return network.MustParsePort(s) }

func TestParseContainerFlags(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("\ufeffA=1\n# comment\n\n  B=2\nFROM_HOST\nNOT_SET_ANYWHERE\n"), 0o644)
	labelFile := filepath.Join(dir, "labels")
	os.WriteFile(labelFile, []byte("l1=x\nl2\n"), 0o644)
	seccomp := filepath.Join(dir, "seccomp.json")
	os.WriteFile(seccomp, []byte("{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": []\n}\n"), 0o644)
	t.Setenv("FROM_HOST", "h")
	t.Setenv("E_FROM_HOST", "eh")
	cwd, _ := os.Getwd()

	for _, tc := range []struct {
		args []string
		want func(c *containerConfig)
	}{
		{[]string{"img"}, func(*containerConfig) {}},
		{[]string{"img", "echo", "-n", "hi"}, func(c *containerConfig) { c.Config.Cmd = []string{"echo", "-n", "hi"} }},
		{[]string{"-e", "A=1", "-e", "E_FROM_HOST", "-e", "UNSET_VAR_X", "-e", "A=2", "--env-file", envFile, "img"}, func(c *containerConfig) {
			// env-file first, then -e (one per name, the last value wins);
			// a bare name takes ctl's value, or is sent bare.
			c.Config.Env = []string{"A=1", "B=2", "FROM_HOST=h", "A=2", "E_FROM_HOST=eh", "UNSET_VAR_X"}
		}},
		{[]string{"-l", "a=b", "-l", "c", "--label-file", labelFile, "img"}, func(c *containerConfig) {
			// A bare name in a label file is dropped.
			c.Config.Labels = map[string]string{"a": "b", "c": "", "l1": "x"}
		}},
		{[]string{"-w", "/tmp", "-u", "1000:1000", "--group-add", "10", "--group-add", "audio", "-h", "box", "--domainname", "dom", "-t", "-i", "--read-only", "img"}, func(c *containerConfig) {
			c.Config.WorkingDir, c.Config.User, c.Config.Hostname, c.Config.Domainname = "/tmp", "1000:1000", "box", "dom"
			c.Config.Tty, c.Config.OpenStdin, c.Config.AttachStdin, c.Config.StdinOnce = true, true, true, true
			c.HostConfig.GroupAdd = []string{"10", "audio"}
			c.HostConfig.ReadonlyRootfs = true
		}},
		{[]string{"-a", "stdin", "-a", "STDOUT", "img"}, func(c *containerConfig) {
			c.Config.AttachStdin, c.Config.AttachStdout, c.Config.AttachStderr = true, true, false
		}},
		{[]string{"--device", "/dev/null", "--device", "/dev/zero:/dev/z:rw", "--device", "/dev/sda:r", "--device", "/dev//null/", "--device", "vendor.com/gpu=all", "--device-cgroup-rule", "c 1:3 rwm", "img"}, func(c *containerConfig) {
			c.HostConfig.Devices = []container.DeviceMapping{
				{PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwm"},
				{PathOnHost: "/dev/zero", PathInContainer: "/dev/z", CgroupPermissions: "rw"},
				{PathOnHost: "/dev/sda", PathInContainer: "/dev/sda", CgroupPermissions: "r"},
				{PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwm"},
			}
			c.HostConfig.DeviceRequests = []container.DeviceRequest{{Driver: "cdi", DeviceIDs: []string{"vendor.com/gpu=all"}}}
			c.HostConfig.DeviceCgroupRules = []string{"c 1:3 rwm"}
		}},
		{[]string{"--device-read-bps", "/dev/sda:1mb", "--device-write-bps", "/dev/sda:10", "--device-read-iops", "/dev/sda:100", "--device-write-iops", "/dev/sdb:5", "--blkio-weight", "300", "--blkio-weight-device", "/dev/sda:200", "img"}, func(c *containerConfig) {
			r := &c.HostConfig.Resources
			r.BlkioDeviceReadBps = []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 1 << 20}}
			r.BlkioDeviceWriteBps = []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 10}}
			r.BlkioDeviceReadIOps = []*blkiodev.ThrottleDevice{{Path: "/dev/sda", Rate: 100}}
			r.BlkioDeviceWriteIOps = []*blkiodev.ThrottleDevice{{Path: "/dev/sdb", Rate: 5}}
			r.BlkioWeight = 300
			r.BlkioWeightDevice = []*blkiodev.WeightDevice{{Path: "/dev/sda", Weight: 200}}
		}},
		{[]string{"--cap-add", "net_admin", "--cap-add", "CAP_SYS_TIME", "--cap-drop", "ALL", "--privileged", "img"}, func(c *containerConfig) {
			// Sent as given: the moby client normalizes them (CAP_ prefix, upper case).
			c.HostConfig.CapAdd = []string{"net_admin", "CAP_SYS_TIME"}
			c.HostConfig.CapDrop = []string{"ALL"}
			c.HostConfig.Privileged = true
		}},
		{[]string{"--security-opt", "seccomp=" + seccomp, "--security-opt", "no-new-privileges", "--security-opt", "apparmor=unconfined", "--security-opt", "label:disable", "--security-opt", "systempaths=unconfined", "img"}, func(c *containerConfig) {
			c.HostConfig.SecurityOpt = []string{`seccomp={"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}`, "no-new-privileges", "apparmor=unconfined", "label:disable"}
			c.HostConfig.MaskedPaths, c.HostConfig.ReadonlyPaths = []string{}, []string{}
		}},
		{[]string{"--security-opt", "seccomp=unconfined", "img"}, func(c *containerConfig) {
			c.HostConfig.SecurityOpt = []string{"seccomp=unconfined"}
		}},
		{[]string{"--pid", "host", "--ipc", "shareable", "--uts", "host", "--userns", "host", "--cgroupns", "private", "img"}, func(c *containerConfig) {
			h := c.HostConfig
			h.PidMode, h.IpcMode, h.UTSMode, h.UsernsMode, h.CgroupnsMode = "host", "shareable", "host", "host", "private"
		}},
		{[]string{"--pid", "container:abc", "--ipc", "container:abc", "img"}, func(c *containerConfig) {
			c.HostConfig.PidMode, c.HostConfig.IpcMode = "container:abc", "container:abc"
		}},
		{[]string{"-m", "64m", "--memory-swap", "-1", "--memory-reservation", "32m", "--memory-swappiness", "10", "--cpus", "1.5", "-c", "512",
			"--cpu-period", "100000", "--cpu-quota", "50000", "--cpu-rt-period", "1000", "--cpu-rt-runtime", "500", "--cpuset-cpus", "0-1",
			"--cpuset-mems", "0", "--pids-limit", "100", "--oom-kill-disable", "--oom-score-adj", "500", "--shm-size", "128m", "img"}, func(c *containerConfig) {
			r := &c.HostConfig.Resources
			r.Memory, r.MemorySwap, r.MemoryReservation, r.MemorySwappiness = 64<<20, -1, 32<<20, ptr(int64(10))
			r.NanoCPUs, r.CPUShares, r.CPUPeriod, r.CPUQuota = 1_500_000_000, 512, 100000, 50000
			r.CPURealtimePeriod, r.CPURealtimeRuntime, r.CpusetCpus, r.CpusetMems = 1000, 500, "0-1", "0"
			r.PidsLimit, r.OomKillDisable = ptr(int64(100)), ptr(true)
			c.HostConfig.OomScoreAdj, c.HostConfig.ShmSize = 500, 128<<20
		}},
		{[]string{"--ulimit", "nproc=10", "--ulimit", "nofile=1024:2048", "--ulimit", "core=-1", "--ulimit", "nproc=20", "img"}, func(c *containerConfig) {
			c.HostConfig.Ulimits = []*container.Ulimit{{Name: "core", Soft: -1, Hard: -1}, {Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 20, Hard: 20}}
		}},
		{[]string{"--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=1000", "img"}, func(c *containerConfig) {
			c.HostConfig.Sysctls = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"}
		}},
		{[]string{"--init", "img"}, func(c *containerConfig) { c.HostConfig.Init = ptr(true) }},
		{[]string{"--init=false", "img"}, func(c *containerConfig) { c.HostConfig.Init = ptr(false) }},
		{[]string{"--stop-signal", "SIGUSR1", "--stop-timeout", "0", "img"}, func(c *containerConfig) {
			c.Config.StopSignal, c.Config.StopTimeout = "SIGUSR1", ptr(0)
		}},
		{[]string{"--restart", "on-failure:3", "img"}, func(c *containerConfig) {
			c.HostConfig.RestartPolicy = container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}
		}},
		{[]string{"--restart", "unless-stopped", "img"}, func(c *containerConfig) { c.HostConfig.RestartPolicy.Name = "unless-stopped" }},
		{[]string{"--rm", "--cidfile", "/tmp/x", "--cgroup-parent", "/p", "--runtime", "crun", "--isolation", "default", "img"}, func(c *containerConfig) {
			c.HostConfig.AutoRemove, c.HostConfig.ContainerIDFile, c.HostConfig.CgroupParent = true, "/tmp/x", "/p"
			c.HostConfig.Runtime, c.HostConfig.Isolation = "crun", "default"
		}},
		{[]string{"--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3", "img"}, func(c *containerConfig) {
			c.HostConfig.LogConfig = container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}}
		}},
		{[]string{"--health-cmd", "true", "--health-interval", "5s", "--health-timeout", "2s", "--health-retries", "3", "--health-start-period", "10s", "--health-start-interval", "1s", "img"}, func(c *containerConfig) {
			c.Config.Healthcheck = &container.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: 5 * time.Second, Timeout: 2 * time.Second,
				Retries: 3, StartPeriod: 10 * time.Second, StartInterval: time.Second}
		}},
		{[]string{"--health-retries", "2", "img"}, func(c *containerConfig) { c.Config.Healthcheck = &container.HealthConfig{Retries: 2} }},
		{[]string{"--no-healthcheck", "img"}, func(c *containerConfig) { c.Config.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}} }},
		{[]string{"--network", "host", "img"}, func(c *containerConfig) {
			c.HostConfig.NetworkMode = "host"
			c.NetworkingConfig.EndpointsConfig = map[string]*network.EndpointSettings{}
		}},
		{[]string{"--net", "none", "img"}, func(c *containerConfig) {
			c.HostConfig.NetworkMode = "none"
			c.NetworkingConfig.EndpointsConfig = map[string]*network.EndpointSettings{}
		}},
		{[]string{"--network", "mynet", "--network-alias", "a1", "--net-alias", "a2", "--ip", "10.0.0.5", "--ip6", "2001:db8::5", "--link", "other:o",
			"--link-local-ip", "169.254.1.1", "--mac-address", "92:d0:c6:0a:29:33", "img"}, func(c *containerConfig) {
			c.HostConfig.NetworkMode = "mynet"
			c.HostConfig.Links = []string{"other:o"}
			mac, _ := net.ParseMAC("92:d0:c6:0a:29:33")
			c.NetworkingConfig.EndpointsConfig = map[string]*network.EndpointSettings{"mynet": {
				Aliases: []string{"a1", "a2"}, Links: []string{"other:o"}, MacAddress: network.HardwareAddr(mac),
				IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.0.0.5"), IPv6Address: netip.MustParseAddr("2001:db8::5"),
					LinkLocalIPs: []netip.Addr{netip.MustParseAddr("169.254.1.1")}},
			}}
		}},
		{[]string{"--network", "name=mynet,alias=x,ip=10.1.1.1,driver-opt=com.foo=bar,gw-priority=5", "--network", "name=other", "img"}, func(c *containerConfig) {
			c.HostConfig.NetworkMode = "mynet"
			c.NetworkingConfig.EndpointsConfig = map[string]*network.EndpointSettings{
				"mynet": {Aliases: []string{"x"}, DriverOpts: map[string]string{"com.foo": "bar"}, GwPriority: 5,
					IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.1.1.1")}},
				"other": {},
			}
		}},
		{[]string{"--link", "other:alias", "img"}, func(c *containerConfig) {
			c.HostConfig.Links = []string{"other:alias"} // a legacy link on the default bridge
		}},
		{[]string{"--dns", "8.8.8.8", "--dns", "::1", "--dns-search", "example.com", "--dns-search", ".", "--dns-option", "ndots:2", "--dns-opt", "rotate",
			"--add-host", "foo:1.2.3.4", "--add-host", "bar=::1", "--add-host", "gw:host-gateway", "--add-host", "v6:[::2]", "img"}, func(c *containerConfig) {
			h := c.HostConfig
			h.DNS = []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("::1")}
			h.DNSSearch, h.DNSOptions = []string{"example.com", "."}, []string{"ndots:2", "rotate"}
			h.ExtraHosts = []string{"foo:1.2.3.4", "bar:::1", "gw:host-gateway", "v6:::2"}
		}},
		{[]string{"-p", "80", "-p", "8080:80", "-p", "127.0.0.1:8081:81/udp", "-p", "9000-9001:9000-9001", "-p", "[::1]:53:53/udp",
			"-p", "published=8443,target=443", "-P", "--expose", "7000-7001", "--expose", "6000/udp", "img"}, func(c *containerConfig) {
			c.Config.ExposedPorts = network.PortSet{port("80/tcp"): {}, port("81/udp"): {}, port("9000/tcp"): {}, port("9001/tcp"): {},
				port("53/udp"): {}, port("443/tcp"): {}, port("7000/tcp"): {}, port("7001/tcp"): {}, port("6000/udp"): {}}
			c.HostConfig.PortBindings = network.PortMap{
				port("80/tcp"):   {{HostPort: ""}, {HostPort: "8080"}},
				port("81/udp"):   {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8081"}},
				port("9000/tcp"): {{HostPort: "9000"}},
				port("9001/tcp"): {{HostPort: "9001"}},
				port("53/udp"):   {{HostIP: netip.MustParseAddr("::1"), HostPort: "53"}},
				port("443/tcp"):  {{HostPort: "8443"}},
			}
			c.HostConfig.PublishAllPorts = true
		}},
		{[]string{"-v", "/data", "-v", "/host:/ctr:ro", "-v", "./rel:/rel", "-v", "named:/named", "-v", "/data", "img"}, func(c *containerConfig) {
			c.Config.Volumes = map[string]struct{}{"/data": {}}
			c.HostConfig.Binds = []string{"/host:/ctr:ro", filepath.Join(cwd, "rel") + ":/rel", "named:/named"}
		}},
		{[]string{"--mount", "type=bind,src=/a,dst=/b,readonly", "--mount", "type=volume,source=v,target=/v,volume-label=a=b,volume-opt=o=p,volume-nocopy",
			"--mount", "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777", "--mount", "target=/anon", "--mount", "type=bind,src=.,dst=/x,bind-propagation=rshared,bind-recursive=disabled", "img"}, func(c *containerConfig) {
			c.HostConfig.Mounts = []mount.Mount{
				{Type: "bind", Source: "/a", Target: "/b", ReadOnly: true},
				{Type: "volume", Source: "v", Target: "/v", VolumeOptions: &mount.VolumeOptions{NoCopy: true, Labels: map[string]string{"a": "b"},
					DriverConfig: &mount.Driver{Options: map[string]string{"o": "p"}}}},
				{Type: "tmpfs", Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1777}},
				{Type: "volume", Target: "/anon"},
				{Type: "bind", Source: cwd, Target: "/x", BindOptions: &mount.BindOptions{Propagation: "rshared", NonRecursive: true}},
			}
		}},
		{[]string{"--tmpfs", "/run", "--tmpfs", "/tmp:rw,size=64m", "--volumes-from", "other:ro", "--volume-driver", "local", "--storage-opt", "size=10G", "img"}, func(c *containerConfig) {
			c.HostConfig.Tmpfs = map[string]string{"/run": "", "/tmp": "rw,size=64m"}
			c.HostConfig.VolumesFrom, c.HostConfig.VolumeDriver = []string{"other:ro"}, "local"
			c.HostConfig.StorageOpt = map[string]string{"size": "10G"}
		}},
		{[]string{"--gpus", "all", "--gpus", "driver=nvidia,count=2,capabilities=compute,options=a=b", "--gpus", `"device=0,1"`, "img"}, func(c *containerConfig) {
			c.HostConfig.DeviceRequests = []container.DeviceRequest{
				{Count: -1, Capabilities: [][]string{{"gpu"}}, Options: map[string]string{}},
				{Driver: "nvidia", Count: 2, Capabilities: [][]string{{"compute", "gpu"}}, Options: map[string]string{"a": "b"}},
				{DeviceIDs: []string{"0", "1"}, Capabilities: [][]string{{"gpu"}}, Options: map[string]string{}},
			}
		}},
		{[]string{"--annotation", "a=b", "--annotation", "c", "img"}, func(c *containerConfig) {
			c.HostConfig.Annotations = map[string]string{"a": "b", "c": ""}
		}},
		{[]string{"--entrypoint", "/bin/sh", "img", "-c", "x"}, func(c *containerConfig) {
			c.Config.Entrypoint, c.Config.Cmd = []string{"/bin/sh"}, []string{"-c", "x"}
		}},
		{[]string{"--entrypoint=", "img"}, func(c *containerConfig) { c.Config.Entrypoint = []string{""} }},
		{[]string{"--cpu-count", "2", "--cpu-percent", "50", "--io-maxbandwidth", "10m", "--io-maxiops", "100", "img"}, func(c *containerConfig) {
			r := &c.HostConfig.Resources
			r.CPUCount, r.CPUPercent, r.IOMaximumBandwidth, r.IOMaximumIOps = 2, 50, 10<<20, 100
		}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseArgs(tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			want := dockerDefaults(tc.args[len(tc.args)-1])
			for i, a := range tc.args {
				if a == "img" {
					want.Config.Image = "img"
					if len(tc.args) > i+1 && want.Config.Cmd == nil {
						want.Config.Cmd = tc.args[i+1:]
					}
					break
				}
			}
			tc.want(want)
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// TestInvalidValues: bad values fail as docker's CLI fails, with its
// messages (flag values at parse time, the rest when the request is built).
func TestInvalidValues(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "profile")
	os.WriteFile(notJSON, []byte("not json"), 0o644)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-m", "foo"}, `invalid argument "foo" for "-m, --memory" flag: invalid size: 'foo'`},
		{[]string{"--memory-swap", "x"}, `invalid argument "x" for "--memory-swap" flag: invalid size: 'x'`},
		{[]string{"--memory-swappiness", "200"}, "invalid value: 200. Valid memory swappiness range is 0-100"},
		{[]string{"--cpus", "abc"}, `invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number`},
		{[]string{"--cpus", "0.0000000001"}, `invalid argument "0.0000000001" for "--cpus" flag: value is too precise`},
		{[]string{"--blkio-weight-device", "/dev/sda:5"}, `invalid argument "/dev/sda:5" for "--blkio-weight-device" flag: invalid weight for device: /dev/sda:5`},
		{[]string{"--blkio-weight-device", "sda:50"}, `invalid argument "sda:50" for "--blkio-weight-device" flag: bad format for device path: sda:50`},
		{[]string{"--device-read-iops", "/dev/sda:1k"}, `invalid argument "/dev/sda:1k" for "--device-read-iops" flag: invalid rate for device: /dev/sda:1k. The correct format is <device-path>:<number>. Number must be a positive integer`},
		{[]string{"--device-write-bps", ":1"}, `invalid argument ":1" for "--device-write-bps" flag: bad format: :1`},
		{[]string{"--device", "/dev/x:/y:rwz"}, "bad mode specified: rwz"},
		{[]string{"--device", "/dev/x:rel"}, "rel is not an absolute path"},
		{[]string{"--device", "a:b:c:d"}, "bad format for path: a:b:c:d"},
		{[]string{"--device-cgroup-rule", "bad"}, `invalid argument "bad" for "--device-cgroup-rule" flag: invalid device cgroup format 'bad'`},
		{[]string{"-e", "=x"}, `invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x`},
		{[]string{"-l", "a b=c"}, `invalid argument "a b=c" for "-l, --label" flag: label 'a b' contains whitespaces`},
		{[]string{"--env-file", "/nonexist"}, "open /nonexist: no such file or directory"},
		{[]string{"--dns", "foo"}, `invalid argument "foo" for "--dns" flag: IP address is not correctly formatted: foo`},
		{[]string{"--dns-search", "-bad-"}, `invalid argument "-bad-" for "--dns-search" flag: -bad- is not a valid domain`},
		{[]string{"--add-host", "foo"}, `invalid argument "foo" for "--add-host" flag: bad format for add-host: "foo"`},
		{[]string{"--add-host", "foo:notanip"}, `invalid argument "foo:notanip" for "--add-host" flag: invalid IP address in add-host: "notanip"`},
		{[]string{"--link", "a:b:c"}, `invalid argument "a:b:c" for "--link" flag: bad format for links: a:b:c`},
		{[]string{"--sysctl", "kernel.foo=1"}, `invalid argument "kernel.foo=1" for "--sysctl" flag: sysctl 'kernel.foo=1' is not allowed`},
		{[]string{"--ulimit", "nofile=10:5"}, `invalid argument "nofile=10:5" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: 10 > 5`},
		{[]string{"--pid", "bad"}, "--pid: invalid PID mode"},
		{[]string{"--uts", "bad"}, "--uts: invalid UTS mode"},
		{[]string{"--userns", "bad"}, "--userns: invalid USER mode"},
		{[]string{"--cgroupns", "bad"}, "--cgroupns: invalid CGROUP mode"},
		{[]string{"--restart", "on-failure:x"}, "invalid restart policy format: maximum retry count must be an integer"},
		{[]string{"--restart", ":3"}, "invalid restart policy format: no policy provided before colon"},
		{[]string{"--rm", "--restart", "always"}, "conflicting options: cannot specify both --restart and --rm"},
		{[]string{"--log-driver", "none", "--log-opt", "a=b"}, "invalid logging opts for driver none"},
		{[]string{"--security-opt", "foo"}, `Invalid --security-opt: "foo"`},
		{[]string{"--security-opt", "seccomp=/nonexist"}, "opening seccomp profile (/nonexist) failed: open /nonexist: no such file or directory"},
		{[]string{"--security-opt", "seccomp=" + notJSON}, "compacting json for seccomp profile (" + notJSON + ") failed: invalid character 'o' in literal null (expecting 'u')"},
		{[]string{"--storage-opt", "foo"}, "invalid storage option"},
		{[]string{"--no-healthcheck", "--health-cmd", "x"}, "--no-healthcheck conflicts with --health-* options"},
		{[]string{"--health-interval", "-1s"}, "--health-interval cannot be negative"},
		{[]string{"--health-retries", "-1"}, "--health-retries cannot be negative"},
		{[]string{"--mac-address", "zz"}, "zz is not a valid mac address"},
		{[]string{"-p", "foo"}, "invalid containerPort: foo"},
		{[]string{"-p", "published=1,target"}, "invalid publish opts format (should be name=value but got 'target')"},
		{[]string{"--expose", "1:2"}, "invalid port format for --expose: 1:2"},
		{[]string{"--expose", "x"}, `invalid range format for --expose: x, error: strconv.ParseUint: parsing "x": invalid syntax`},
		{[]string{"--expose", "10-5"}, "invalid range format for --expose: 10-5, error: invalid range specified for port: 10-5"},
		{[]string{"-v", "/a::b"}, "invalid spec: /a::b: empty section between colons"},
		{[]string{"-v", "/a:/b:/c:ro"}, "invalid spec: /a:/b:/c:ro: too many colons"},
		{[]string{"--mount", "type=bind"}, `invalid argument "type=bind" for "--mount" flag: target is required`},
		{[]string{"--mount", "type=volume,dst=/x,bind-propagation=rshared"}, `invalid argument "type=volume,dst=/x,bind-propagation=rshared" for "--mount" flag: cannot mix 'bind-*' options with mount type 'volume'`},
		{[]string{"--network", "name=n,foo=bar"}, `invalid argument "name=n,foo=bar" for "--network" flag: invalid field key foo`},
		{[]string{"--network", "host", "--network", "mynet"}, "conflicting options: cannot attach both user-defined and non-user-defined network-modes"},
		{[]string{"--network", "host", "--network-alias", "x"}, "network-scoped aliases are only supported for user-defined networks"},
		{[]string{"--network", "n", "--network", "n"}, `network "n" is specified multiple times`},
		{[]string{"--network", "name=n,alias=a", "--network-alias", "b"}, "conflicting options: cannot specify both --network-alias and per-network alias"},
		{[]string{"--gpus", "1,count=2"}, `invalid argument "1,count=2" for "--gpus" flag: gpu request key 'count' can be specified only once`},
		{[]string{"-a", "foo"}, `invalid argument "foo" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`},
		{[]string{"--kernel-memory", "4m"}, "--kernel-memory: kernel memory limits are not supported (removed in API 1.42)"},
		{[]string{"--ip", "1.2.3.4.5"}, `invalid argument "1.2.3.4.5" for "--ip" flag: invalid string being converted to IP address: 1.2.3.4.5`},
	} {
		_, err := parseArgs(append(tc.args, "img")...)
		if err == nil || err.Error() != tc.msg {
			t.Errorf("%q: %v, want %s", tc.args, err, tc.msg)
		}
	}
}

// TestRunHasEveryDockerRunFlag lists the flags of the docker binary's
// `run --help` and `create --help` and fails if ctl lacks one, or gives it
// another shorthand.
func TestRunHasEveryDockerRunFlag(t *testing.T) {
	docker, err := exec.LookPath("docker")
	testprereq.Require(t, err == nil, "docker CLI: %v", err)
	root := NewRootCommand(&CLI{})
	flagLine := regexp.MustCompile(`^\s+(?:-(\w), )?--([\w-]+)`)
	for _, sub := range []string{"run", "create", "update"} {
		out, err := exec.Command(docker, sub, "--help").Output()
		if err != nil {
			t.Fatalf("docker %s --help: %v", sub, err)
		}
		cmd, _, err := root.Find([]string{sub})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			m := flagLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			n++
			f := cmd.Flags().Lookup(m[2])
			switch {
			case f == nil:
				t.Errorf("ctl %s lacks --%s", sub, m[2])
			case f.Shorthand != m[1]:
				t.Errorf("ctl %s --%s: shorthand %q, docker's %q", sub, m[2], f.Shorthand, m[1])
			}
		}
		if n < 10 {
			t.Fatalf("docker %s --help listed %d flags:\n%s", sub, n, out)
		}
	}
}

// TestProxyEnv: the docker config's proxies reach the container's
// environment as docker's CLI puts them there.
func TestProxyEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	if got := proxyEnv("unix:///e.sock", nil); got != nil {
		t.Errorf("no config file: %q", got)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"proxies":{
		"default":{"httpProxy":"http://p:3128","noProxy":"localhost"},
		"unix:///other.sock":{"ftpProxy":"ftp://f"}},
		"detachKeys":"ctrl-x,x"}`), 0o600)
	if got := configDetachKeys(); got != "ctrl-x,x" {
		t.Errorf("detach keys %q", got)
	}
	got := proxyEnv("unix:///e.sock", []string{"http_proxy=mine", "A=1"})
	if want := []string{"HTTP_PROXY=http://p:3128", "NO_PROXY=localhost", "no_proxy=localhost"}; !reflect.DeepEqual(got, want) {
		t.Errorf("default proxies: %q, want %q", got, want)
	}
	got = proxyEnv("unix:///other.sock", nil)
	if want := []string{"FTP_PROXY=ftp://f", "ftp_proxy=ftp://f"}; !reflect.DeepEqual(got, want) {
		t.Errorf("per-host proxies: %q, want %q", got, want)
	}
}
