package cli

// The options run and create share, and their translation into the
// Config, HostConfig and NetworkingConfig of POST /containers/create,
// field for field what the docker CLI 28 sends for the same command line.
// ctl checks only what docker's CLI checks; everything else goes to the
// engine, which applies it or refuses it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docker/go-connections/nat"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/pflag"
)

// containerOptions holds the parsed flags of run/create.
type containerOptions struct {
	attach, volumes, tmpfs, links, aliases, linkLocalIPs     listValue
	env, envFile, labels, labelFile, deviceCgroupRules       listValue
	devices, publish, expose, dns, dnsSearch, dnsOptions     listValue
	extraHosts, volumesFrom, capAdd, capDrop, groupAdd       listValue
	securityOpt, storageOpt, logOpts                         listValue
	mounts                                                   mountValue
	blkioWeightDevice                                        weightValue
	readBps, writeBps, readIOps, writeIOps                   throttleValue
	gpus                                                     gpusValue
	ulimits                                                  ulimitValue
	sysctls, annotations                                     mapValue
	network                                                  networkValue
	memory, memoryReservation, memorySwap, kernelMemory, shm bytesValue
	ioMaxBandwidth                                           bytesValue
	cpus                                                     nanoCPUsValue

	privileged, publishAll, stdin, tty, oomKillDisable, readOnly bool
	autoRemove, init, noHealthcheck                              bool

	pidMode, utsMode, usernsMode, cgroupnsMode, ipcMode, cidFile string
	entrypoint, hostname, domainname, user, workdir, macAddress  string
	ipv4, ipv6, restart, logDriver, cgroupParent, volumeDriver   string
	stopSignal, isolation, runtime, healthCmd                    string
	cpusetCpus, cpusetMems                                       string
	// daemonHost selects the proxies of the docker config, if any.
	daemonHost string

	oomScoreAdj, stopTimeout, healthRetries                        int
	cpuCount, cpuPercent, cpuShares, cpuPeriod, cpuQuota           int64
	cpuRtPeriod, cpuRtRuntime, swappiness, pidsLimit               int64
	blkioWeight                                                    uint16
	ioMaxIOps                                                      uint64
	healthInterval, healthTimeout, healthStartPeriod, healthStartI time.Duration
}

// containerConfig is what POST /containers/create receives.
type containerConfig struct {
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

// addContainerFlags defines docker's run/create flags on fs, with its
// names, shorthands, types and defaults; the flags of the commands
// themselves (--name, --pull, -d...) are added by them.
func addContainerFlags(fs *pflag.FlagSet) *containerOptions {
	o := &containerOptions{}
	o.attach.check = checkAttach
	o.env.check = checkEnv
	o.labels.check = checkLabel
	o.deviceCgroupRules.check = checkDeviceCgroupRule
	o.dns.check = checkIP
	o.dnsSearch.check = checkDNSSearch
	o.extraHosts.check = checkExtraHost
	o.links.check = checkLink
	o.sysctls.check = checkSysctl
	o.readIOps.iops, o.writeIOps.iops = true, true
	o.memorySwap.withMinusOne = true

	// An explicit --help without shorthand: -h is --hostname.
	fs.Bool("help", false, "Print usage")

	fs.VarP(&o.attach, "attach", "a", "Attach to STDIN, STDOUT or STDERR")
	fs.Var(&o.deviceCgroupRules, "device-cgroup-rule", "Add a rule to the cgroup allowed devices list")
	fs.Var(&o.devices, "device", "Add a host device to the container")
	fs.Var(&o.gpus, "gpus", "GPU devices to add to the container ('all' to pass all GPUs)")
	fs.VarP(&o.env, "env", "e", "Set environment variables")
	fs.Var(&o.envFile, "env-file", "Read in a file of environment variables")
	fs.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.Var(&o.groupAdd, "group-add", "Add additional groups to join")
	fs.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	fs.StringVar(&o.domainname, "domainname", "", "Container NIS domain name")
	fs.BoolVarP(&o.stdin, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.VarP(&o.labels, "label", "l", "Set meta data on a container")
	fs.Var(&o.labelFile, "label-file", "Read in a line delimited file of labels")
	fs.BoolVar(&o.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fs.StringVar(&o.restart, "restart", string(container.RestartPolicyDisabled), "Restart policy to apply when a container exits")
	fs.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	fs.Var(&o.sysctls, "sysctl", "Sysctl options")
	fs.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.Var(&o.ulimits, "ulimit", "Ulimit options")
	fs.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.BoolVar(&o.autoRemove, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")

	fs.Var(&o.capAdd, "cap-add", "Add Linux capabilities")
	fs.Var(&o.capDrop, "cap-drop", "Drop Linux capabilities")
	fs.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to this container")
	fs.Var(&o.securityOpt, "security-opt", "Security Options")
	fs.StringVar(&o.usernsMode, "userns", "", "User namespace to use")
	fs.StringVar(&o.cgroupnsMode, "cgroupns", "", "Cgroup namespace to use (host|private)\n'host':    Run the container in the host's cgroup namespace\n'private': Run the container in its own private cgroup namespace\n'':        Use the cgroup namespace as configured by the engine (default)")

	fs.Var(&o.extraHosts, "add-host", "Add a custom host-to-IP mapping (host:ip)")
	fs.Var(&o.dns, "dns", "Set custom DNS servers")
	fs.Var(&o.dnsOptions, "dns-option", "Set DNS options")
	fs.Var(&o.dnsOptions, "dns-opt", "Set DNS options")
	_ = fs.MarkHidden("dns-opt")
	fs.Var(&o.dnsSearch, "dns-search", "Set custom DNS search domains")
	fs.Var(&o.expose, "expose", "Expose a port or a range of ports")
	fs.StringVar(&o.ipv4, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	fs.StringVar(&o.ipv6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	fs.Var(&o.links, "link", "Add link to another container")
	fs.Var(&o.linkLocalIPs, "link-local-ip", "Container IPv4/IPv6 link-local addresses")
	fs.StringVar(&o.macAddress, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	fs.VarP(&o.publish, "publish", "p", "Publish a container's port(s) to the host")
	fs.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	fs.Var(&o.network, "network", "Connect a container to a network")
	fs.Var(&o.network, "net", "Connect a container to a network")
	_ = fs.MarkHidden("net")
	fs.Var(&o.aliases, "network-alias", "Add network-scoped alias for the container")
	fs.Var(&o.aliases, "net-alias", "Add network-scoped alias for the container")
	_ = fs.MarkHidden("net-alias")

	fs.StringVar(&o.logDriver, "log-driver", "", "Logging driver for the container")
	fs.StringVar(&o.volumeDriver, "volume-driver", "", "Optional volume driver for the container")
	fs.Var(&o.logOpts, "log-opt", "Log driver options")
	fs.Var(&o.storageOpt, "storage-opt", "Storage driver options for the container")
	fs.Var(&o.tmpfs, "tmpfs", "Mount a tmpfs directory")
	fs.Var(&o.volumesFrom, "volumes-from", "Mount volumes from the specified container(s)")
	fs.VarP(&o.volumes, "volume", "v", "Bind mount a volume")
	fs.Var(&o.mounts, "mount", "Attach a filesystem mount to the container")

	fs.StringVar(&o.healthCmd, "health-cmd", "", "Command to run to check health")
	fs.DurationVar(&o.healthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	fs.IntVar(&o.healthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	fs.DurationVar(&o.healthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	fs.DurationVar(&o.healthStartPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	fs.DurationVar(&o.healthStartI, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	fs.BoolVar(&o.noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")

	fs.Uint16Var(&o.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	fs.Var(&o.blkioWeightDevice, "blkio-weight-device", "Block IO weight (relative device weight)")
	fs.StringVar(&o.cidFile, "cidfile", "", "Write the container ID to the file")
	fs.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.StringVar(&o.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.Int64Var(&o.cpuCount, "cpu-count", 0, "CPU count (Windows only)")
	fs.Int64Var(&o.cpuPercent, "cpu-percent", 0, "CPU percent (Windows only)")
	fs.Int64Var(&o.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fs.Int64Var(&o.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fs.Int64Var(&o.cpuRtPeriod, "cpu-rt-period", 0, "Limit CPU real-time period in microseconds")
	fs.Int64Var(&o.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit CPU real-time runtime in microseconds")
	fs.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.Var(&o.cpus, "cpus", "Number of CPUs")
	fs.Var(&o.readBps, "device-read-bps", "Limit read rate (bytes per second) from a device")
	fs.Var(&o.readIOps, "device-read-iops", "Limit read rate (IO per second) from a device")
	fs.Var(&o.writeBps, "device-write-bps", "Limit write rate (bytes per second) to a device")
	fs.Var(&o.writeIOps, "device-write-iops", "Limit write rate (IO per second) to a device")
	fs.Var(&o.ioMaxBandwidth, "io-maxbandwidth", "Maximum IO bandwidth limit for the system drive (Windows only)")
	fs.Uint64Var(&o.ioMaxIOps, "io-maxiops", 0, "Maximum IOps limit for the system drive (Windows only)")
	fs.Var(&o.kernelMemory, "kernel-memory", "Kernel memory limit")
	fs.VarP(&o.memory, "memory", "m", "Memory limit")
	fs.Var(&o.memoryReservation, "memory-reservation", "Memory soft limit")
	fs.Var(&o.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	fs.Int64Var(&o.swappiness, "memory-swappiness", -1, "Tune container memory swappiness (0 to 100)")
	fs.BoolVar(&o.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	fs.IntVar(&o.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	fs.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")

	fs.StringVar(&o.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")
	fs.StringVar(&o.ipcMode, "ipc", "", "IPC mode to use")
	fs.StringVar(&o.isolation, "isolation", "", "Container isolation technology")
	fs.StringVar(&o.pidMode, "pid", "", "PID namespace to use")
	fs.Var(&o.shm, "shm-size", "Size of /dev/shm")
	fs.StringVar(&o.utsMode, "uts", "", "UTS namespace to use")
	fs.StringVar(&o.runtime, "runtime", "", "Runtime to use for this container")
	fs.BoolVar(&o.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	fs.Var(&o.annotations, "annotation", "Add an annotation to the container (passed through to the OCI runtime)")
	for _, name := range []string{"cpu-count", "cpu-percent", "io-maxbandwidth", "io-maxiops"} {
		_ = fs.SetAnnotation(name, "ostype", []string{"windows"})
	}
	return o
}

// checkOSFlags refuses, as docker does before running a command, the flags
// set that are for another OS than the engine's (asked only when one is).
func checkOSFlags(ctx context.Context, fs *pflag.FlagSet, c *CLI) error {
	var errs []error
	var osType string
	fs.VisitAll(func(f *pflag.Flag) {
		want := f.Annotations["ostype"]
		if !f.Changed || len(want) == 0 {
			return
		}
		if osType == "" {
			cl, err := c.Client()
			if err != nil {
				return
			}
			p, err := cl.Ping(ctx, client.PingOptions{})
			if err != nil {
				return
			}
			osType = p.OSType
		}
		if osType != "" && osType != want[0] {
			errs = append(errs, fmt.Errorf(`"--%s" is only supported on a Docker daemon running on %s, but the Docker daemon is running on %s`, f.Name, want[0], osType))
		}
	})
	return errors.Join(errs...)
}

// parse builds the create request for IMAGE [ARGS...] from the flags in fs.
func (o *containerOptions) parse(fs *pflag.FlagSet, image string, args []string) (*containerConfig, error) {
	if o.macAddress != "" {
		if _, err := net.ParseMAC(strings.TrimSpace(o.macAddress)); err != nil {
			return nil, fmt.Errorf("%s is not a valid mac address", o.macAddress)
		}
	}
	if o.swappiness != -1 && (o.swappiness < 0 || o.swappiness > 100) {
		return nil, fmt.Errorf("invalid value: %d. Valid memory swappiness range is 0-100", o.swappiness)
	}
	if o.kernelMemory.n != 0 {
		// API 1.42 removed the field and the moby types no longer carry it:
		// there is nothing to send, so it is refused rather than dropped.
		return nil, errors.New("--kernel-memory: kernel memory limits are not supported (removed in API 1.42)")
	}

	binds, volumes, err := o.parseVolumes()
	if err != nil {
		return nil, err
	}
	tmpfs := map[string]string{}
	for _, t := range o.tmpfs.values {
		k, v, _ := strings.Cut(t, ":")
		tmpfs[k] = v
	}

	var cmd, entrypoint []string
	if len(args) > 0 {
		cmd = args
	}
	if o.entrypoint != "" {
		entrypoint = []string{o.entrypoint}
	} else if fs.Changed("entrypoint") {
		entrypoint = []string{""} // --entrypoint= resets the image's
	}

	exposed, bindings, err := o.parsePorts()
	if err != nil {
		return nil, err
	}
	devices, cdiDevices, err := o.parseDevices()
	if err != nil {
		return nil, err
	}

	env, err := readKVFiles(o.envFile.values, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	cmdEnv := dedupEnv(o.env.values)
	env = append(env, cmdEnv...)
	if o.daemonHost != "" {
		env = append(env, proxyEnv(o.daemonHost, cmdEnv)...)
	}
	labelList, err := readKVFiles(o.labelFile.values, nil)
	if err != nil {
		return nil, err
	}
	labels := kvMap(append(labelList, o.labels.values...))

	pidMode := container.PidMode(o.pidMode)
	if !pidMode.Valid() {
		return nil, errors.New("--pid: invalid PID mode")
	}
	utsMode := container.UTSMode(o.utsMode)
	if !utsMode.Valid() {
		return nil, errors.New("--uts: invalid UTS mode")
	}
	usernsMode := container.UsernsMode(o.usernsMode)
	if !usernsMode.Valid() {
		return nil, errors.New("--userns: invalid USER mode")
	}
	cgroupnsMode := container.CgroupnsMode(o.cgroupnsMode)
	if !cgroupnsMode.Valid() {
		return nil, errors.New("--cgroupns: invalid CGROUP mode")
	}
	restart, err := parseRestart(o.restart)
	if err != nil {
		return nil, err
	}
	logOpts := kvMap(o.logOpts.values)
	if o.logDriver == "none" && len(o.logOpts.values) > 0 {
		return nil, fmt.Errorf("invalid logging opts for driver %s", o.logDriver)
	}
	securityOpts, err := parseSecurityOpts(o.securityOpt.values)
	if err != nil {
		return nil, err
	}
	securityOpts, maskedPaths, readonlyPaths := systemPaths(securityOpts)
	storageOpts := map[string]string{}
	for _, s := range o.storageOpt.values {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, errors.New("invalid storage option")
		}
		storageOpts[k] = v
	}
	health, err := o.parseHealth()
	if err != nil {
		return nil, err
	}

	deviceRequests := o.gpus.values
	if len(cdiDevices) > 0 {
		deviceRequests = append(deviceRequests, container.DeviceRequest{Driver: "cdi", DeviceIDs: cdiDevices})
	}
	swappiness, oomKillDisable, pidsLimit := o.swappiness, o.oomKillDisable, o.pidsLimit
	resources := container.Resources{
		CgroupParent:         o.cgroupParent,
		Memory:               o.memory.n,
		MemoryReservation:    o.memoryReservation.n,
		MemorySwap:           o.memorySwap.n,
		MemorySwappiness:     &swappiness,
		OomKillDisable:       &oomKillDisable,
		NanoCPUs:             int64(o.cpus),
		CPUCount:             o.cpuCount,
		CPUPercent:           o.cpuPercent,
		CPUShares:            o.cpuShares,
		CPUPeriod:            o.cpuPeriod,
		CpusetCpus:           o.cpusetCpus,
		CpusetMems:           o.cpusetMems,
		CPUQuota:             o.cpuQuota,
		CPURealtimePeriod:    o.cpuRtPeriod,
		CPURealtimeRuntime:   o.cpuRtRuntime,
		PidsLimit:            &pidsLimit,
		BlkioWeight:          o.blkioWeight,
		BlkioWeightDevice:    o.blkioWeightDevice.list(),
		BlkioDeviceReadBps:   o.readBps.list(),
		BlkioDeviceWriteBps:  o.writeBps.list(),
		BlkioDeviceReadIOps:  o.readIOps.list(),
		BlkioDeviceWriteIOps: o.writeIOps.list(),
		IOMaximumIOps:        o.ioMaxIOps,
		IOMaximumBandwidth:   uint64(o.ioMaxBandwidth.n),
		Ulimits:              o.ulimits.list(),
		DeviceCgroupRules:    o.deviceCgroupRules.values,
		Devices:              devices,
		DeviceRequests:       deviceRequests,
	}

	attachStdin := o.stdin || slices.Contains(o.attach.values, "stdin")
	attachOut := len(o.attach.values) == 0 || slices.Contains(o.attach.values, "stdout")
	attachErr := len(o.attach.values) == 0 || slices.Contains(o.attach.values, "stderr")
	cfg := &container.Config{
		Hostname:     o.hostname,
		Domainname:   o.domainname,
		ExposedPorts: exposed,
		User:         o.user,
		Tty:          o.tty,
		OpenStdin:    o.stdin,
		AttachStdin:  attachStdin,
		AttachStdout: attachOut,
		AttachStderr: attachErr,
		// When stdin is attached, it closes with the client's.
		StdinOnce:   o.stdin && attachStdin,
		Env:         env,
		Cmd:         cmd,
		Image:       image,
		Volumes:     volumes,
		Entrypoint:  entrypoint,
		WorkingDir:  o.workdir,
		Labels:      labels,
		StopSignal:  o.stopSignal,
		Healthcheck: health,
	}
	if fs.Changed("stop-timeout") {
		t := o.stopTimeout
		cfg.StopTimeout = &t
	}
	dns, err := toAddrs("--dns", o.dns.orEmpty())
	if err != nil {
		return nil, err
	}
	hc := &container.HostConfig{
		Binds:           binds,
		ContainerIDFile: o.cidFile,
		OomScoreAdj:     o.oomScoreAdj,
		AutoRemove:      o.autoRemove,
		Privileged:      o.privileged,
		PortBindings:    bindings,
		Links:           o.links.values,
		PublishAllPorts: o.publishAll,
		DNS:             dns,
		DNSSearch:       o.dnsSearch.orEmpty(),
		DNSOptions:      o.dnsOptions.orEmpty(),
		ExtraHosts:      o.extraHosts.values,
		VolumesFrom:     o.volumesFrom.values,
		IpcMode:         container.IpcMode(o.ipcMode),
		NetworkMode:     container.NetworkMode(o.network.mode()),
		PidMode:         pidMode,
		UTSMode:         utsMode,
		UsernsMode:      usernsMode,
		CgroupnsMode:    cgroupnsMode,
		CapAdd:          o.capAdd.values,
		CapDrop:         o.capDrop.values,
		GroupAdd:        o.groupAdd.values,
		RestartPolicy:   restart,
		SecurityOpt:     securityOpts,
		StorageOpt:      storageOpts,
		ReadonlyRootfs:  o.readOnly,
		LogConfig:       container.LogConfig{Type: o.logDriver, Config: logOpts},
		VolumeDriver:    o.volumeDriver,
		Isolation:       container.Isolation(o.isolation),
		ShmSize:         o.shm.n,
		Resources:       resources,
		Tmpfs:           tmpfs,
		Sysctls:         o.sysctls.all(),
		Runtime:         o.runtime,
		Mounts:          o.mounts.values,
		MaskedPaths:     maskedPaths,
		ReadonlyPaths:   readonlyPaths,
		Annotations:     o.annotations.all(),
	}
	if o.autoRemove && !hc.RestartPolicy.IsNone() {
		return nil, errors.New("conflicting options: cannot specify both --restart and --rm")
	}
	if fs.Changed("init") {
		init := o.init
		hc.Init = &init
	}
	endpoints, err := o.parseNetworks()
	if err != nil {
		return nil, err
	}
	return &containerConfig{Config: cfg, HostConfig: hc, NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: endpoints}}, nil
}

// parseVolumes splits -v values into bind mounts (host path or named
// volume with a source) and anonymous volumes (a target only).
func (o *containerOptions) parseVolumes() (binds []string, volumes map[string]struct{}, err error) {
	volumes = map[string]struct{}{}
	for _, v := range o.volumes.values {
		volumes[v] = struct{}{}
	}
	seen := map[string]bool{}
	for _, v := range o.volumes.values {
		if seen[v] {
			continue
		}
		seen[v] = true
		source, isPath, err := volumeSource(v)
		if err != nil {
			return nil, nil, err
		}
		if source == "" {
			continue
		}
		bind := v
		if isPath {
			if host, target, ok := strings.Cut(v, ":"); ok {
				bind = absIfRelative(host) + ":" + target
			}
		}
		binds = append(binds, bind)
		delete(volumes, v) // a bind is no anonymous volume
	}
	return binds, volumes, nil
}

// volumeSource reads SOURCE:TARGET[:OPTIONS] (or TARGET) as docker's
// volume-spec parser does, a one-letter first part being a drive letter:
// it returns the source and whether it is a host path.
func volumeSource(spec string) (source string, isPath bool, err error) {
	switch len(spec) {
	case 0:
		return "", false, errors.New("invalid empty volume spec")
	case 1, 2:
		return "", false, nil
	}
	var parts []string
	var cur []rune
	runes := []rune(spec)
	for i := 0; i <= len(runes); i++ {
		if i < len(runes) && runes[i] != ':' {
			cur = append(cur, runes[i])
			continue
		}
		if i < len(runes) && len(cur) == 1 && unicode.IsLetter(cur[0]) {
			cur = append(cur, ':') // drive letter
			continue
		}
		end := i == len(runes)
		switch {
		case len(cur) == 0:
			return "", false, fmt.Errorf("invalid spec: %s: empty section between colons", spec)
		case len(parts) == 2 && !end:
			return "", false, fmt.Errorf("invalid spec: %s: too many colons", spec)
		}
		parts = append(parts, string(cur))
		cur = nil
	}
	if len(parts) < 2 {
		return "", false, nil
	}
	source = parts[0]
	switch source[0] {
	case '.', '/', '~':
		isPath = true
	default:
		r := []rune(source)
		isPath = strings.HasPrefix(source, `\\`) || (len(r) > 2 && unicode.IsLetter(r[0]) && r[1] == ':')
	}
	return source, isPath, nil
}

// parsePorts reads -p (short [ip:][hostPort:]containerPort[/proto] or
// long published=,target=,protocol=) and --expose PORT[-END][/proto].
func (o *containerOptions) parsePorts() (network.PortSet, network.PortMap, error) {
	var specs []string
	for _, p := range o.publish.values {
		if !strings.Contains(p, "=") {
			specs = append(specs, p)
			continue
		}
		params := map[string]string{"protocol": "tcp"}
		for _, kv := range strings.Split(p, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, nil, fmt.Errorf("invalid publish opts format (should be name=value but got '%s')", kv)
			}
			params[k] = v
		}
		specs = append(specs, fmt.Sprintf("%s:%s/%s", params["published"], params["target"], params["protocol"]))
	}
	natPorts, natBindings, err := nat.ParsePortSpecs(specs)
	if err != nil {
		return nil, nil, err
	}
	exposed := network.PortSet{}
	for p := range natPorts {
		port, err := network.ParsePort(string(p))
		if err != nil {
			return nil, nil, err
		}
		exposed[port] = struct{}{}
	}
	bindings := network.PortMap{}
	for p, bs := range natBindings {
		port, err := network.ParsePort(string(p))
		if err != nil {
			return nil, nil, err
		}
		list := []network.PortBinding{}
		for _, b := range bs {
			var ip netip.Addr
			if b.HostIP != "" {
				if ip, err = netip.ParseAddr(b.HostIP); err != nil {
					return nil, nil, err
				}
			}
			list = append(list, network.PortBinding{HostIP: ip, HostPort: b.HostPort})
		}
		bindings[port] = list
	}
	for _, e := range o.expose.values {
		if strings.Contains(e, ":") {
			return nil, nil, fmt.Errorf("invalid port format for --expose: %s", e)
		}
		proto, port := nat.SplitProtoPort(e)
		start, end, err := portRange(port)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid range format for --expose: %s, error: %s", e, err)
		}
		for n := start; n <= end; n++ {
			p, err := network.ParsePort(strconv.FormatUint(n, 10) + "/" + proto)
			if err != nil {
				return nil, nil, err
			}
			exposed[p] = struct{}{}
		}
	}
	return exposed, bindings, nil
}

// portRange reads PORT or START-END of --expose, with the errors of
// docker 28's parser.
func portRange(s string) (start, end uint64, err error) {
	if s == "" {
		return 0, 0, errors.New("empty string specified for ports")
	}
	first, last, isRange := strings.Cut(s, "-")
	if start, err = strconv.ParseUint(first, 10, 16); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return start, start, nil
	}
	last, _, _ = strings.Cut(last, "-")
	if end, err = strconv.ParseUint(last, 10, 16); err != nil {
		return 0, 0, err
	}
	if end < start {
		return 0, 0, fmt.Errorf("invalid range specified for port: %s", s)
	}
	return start, end, nil
}

// parseDevices reads --device HOST[:CONTAINER][:PERMS]; CDI names
// (vendor.com/class=name) become a "cdi" device request instead.
func (o *containerOptions) parseDevices() ([]container.DeviceMapping, []string, error) {
	devices := []container.DeviceMapping{}
	var cdi []string
	for _, d := range o.devices.values {
		if isCDIName(d) {
			cdi = append(cdi, d)
			continue
		}
		parts := strings.SplitN(d, ":", 3)
		if strings.Count(d, ":") > 2 || parts[0] == "" {
			return nil, nil, fmt.Errorf("bad format for path: %s", d)
		}
		// Docker cleans the path(s) of the short forms only.
		m := container.DeviceMapping{CgroupPermissions: "rwm"}
		var inContainer string
		switch {
		case len(parts) == 1 || (len(parts) == 2 && validDeviceMode(parts[1])):
			inContainer = parts[0]
			m.PathOnHost, m.PathInContainer = path.Clean(parts[0]), path.Clean(parts[0])
			if len(parts) == 2 {
				m.CgroupPermissions = parts[1]
			}
		case len(parts) == 2:
			inContainer = parts[1]
			m.PathOnHost, m.PathInContainer = parts[0], path.Clean(parts[1])
		default:
			if !validDeviceMode(parts[2]) {
				return nil, nil, fmt.Errorf("bad mode specified: %s", parts[2])
			}
			inContainer = parts[1]
			m.PathOnHost, m.PathInContainer, m.CgroupPermissions = parts[0], parts[1], parts[2]
		}
		if !path.IsAbs(inContainer) {
			return nil, nil, fmt.Errorf("%s is not an absolute path", inContainer)
		}
		devices = append(devices, m)
	}
	return devices, cdi, nil
}

// validDeviceMode: a non-empty combination of r, w, m, each at most once.
func validDeviceMode(mode string) bool {
	if mode == "" {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range mode {
		if (c != 'r' && c != 'w' && c != 'm') || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// isCDIName tells a fully qualified CDI device name, vendor/class=name.
func isCDIName(d string) bool {
	kind, name, ok := strings.Cut(d, "=")
	if !ok || name == "" {
		return false
	}
	vendor, class, ok := strings.Cut(kind, "/")
	if !ok || vendor == "" || class == "" || strings.Contains(class, "/") {
		return false
	}
	return !strings.ContainsAny(name, "/:") && !strings.HasPrefix(d, "/")
}

// readKVFiles reads KEY=VALUE lines of --env-file/--label-file; lookup
// fills bare KEY lines (env files only; nil drops them).
func readKVFiles(files []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, name := range files {
		lines, err := readKVFile(name, lookup)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

func readKVFile(name string, lookup func(string) (string, bool)) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("invalid env file (%s): invalid utf8 bytes at line %d: %v", name, n, b)
		}
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
		}
		line := strings.TrimLeftFunc(string(b), unicode.IsSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		key, _, hasValue := strings.Cut(line, "=")
		if key == "" {
			return nil, fmt.Errorf("invalid env file (%s): no variable name on line '%s'", name, line)
		}
		if strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("invalid env file (%s): variable '%s' contains whitespaces", name, key)
		}
		if hasValue {
			out = append(out, line)
		} else if lookup != nil {
			if v, ok := lookup(line); ok {
				out = append(out, key+"="+v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("invalid env file (%s): %w", name, err)
	}
	return out, nil
}

// dedupEnv keeps one entry per variable of -e, the last value given, at
// the place of its first occurrence (docker merges -e through a map).
func dedupEnv(env []string) []string {
	pos := map[string]int{}
	var out []string
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if i, ok := pos[k]; ok {
			out[i] = e
			continue
		}
		pos[k] = len(out)
		out = append(out, e)
	}
	return out
}

// parseSecurityOpts checks --security-opt KEY=VALUE (or KEY:VALUE, or
// no-new-privileges alone) and replaces seccomp=FILE by the file's
// compacted JSON, which is what the engine receives.
func parseSecurityOpts(opts []string) ([]string, error) {
	out := make([]string, 0, len(opts))
	for _, opt := range opts {
		k, v, ok := strings.Cut(opt, "=")
		if !ok && k != "no-new-privileges" {
			k, v, ok = strings.Cut(opt, ":")
		}
		if (!ok || v == "") && k != "no-new-privileges" {
			return nil, fmt.Errorf("Invalid --security-opt: %q", opt)
		}
		if k == "seccomp" && v != "builtin" && v != "unconfined" {
			data, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %v", v, err)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, data); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %v", v, err)
			}
			opt = "seccomp=" + buf.String()
		}
		out = append(out, opt)
	}
	if len(opts) == 0 {
		return nil, nil
	}
	return out, nil
}

// systemPaths takes systempaths=unconfined out of the options: the CLI
// turns it into empty MaskedPaths and ReadonlyPaths (nil means defaults).
func systemPaths(opts []string) (filtered, masked, readonly []string) {
	if opts == nil {
		return nil, nil, nil
	}
	filtered = []string{}
	for _, o := range opts {
		if o == "systempaths=unconfined" {
			masked, readonly = []string{}, []string{}
			continue
		}
		filtered = append(filtered, o)
	}
	return filtered, masked, readonly
}

func (o *containerOptions) parseHealth() (*container.HealthConfig, error) {
	set := o.healthCmd != "" || o.healthInterval != 0 || o.healthTimeout != 0 ||
		o.healthStartPeriod != 0 || o.healthRetries != 0 || o.healthStartI != 0
	if o.noHealthcheck {
		if set {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !set {
		return nil, nil
	}
	for _, c := range []struct {
		neg  bool
		name string
	}{
		{o.healthInterval < 0, "--health-interval"},
		{o.healthTimeout < 0, "--health-timeout"},
		{o.healthRetries < 0, "--health-retries"},
		{o.healthStartPeriod < 0, "--health-start-period"},
		{o.healthStartI < 0, "--health-start-interval"},
	} {
		if c.neg {
			return nil, fmt.Errorf("%s cannot be negative", c.name)
		}
	}
	h := &container.HealthConfig{
		Interval:      o.healthInterval,
		Timeout:       o.healthTimeout,
		StartPeriod:   o.healthStartPeriod,
		StartInterval: o.healthStartI,
		Retries:       o.healthRetries,
	}
	if o.healthCmd != "" {
		h.Test = []string{"CMD-SHELL", o.healthCmd}
	}
	return h, nil
}

// parseNetworks builds the endpoint settings: --network-alias, --link (on
// user-defined networks), --ip, --ip6, --mac-address and --link-local-ip
// apply to the first network; a lone network without settings sends none.
func (o *containerOptions) parseNetworks() (map[string]*network.EndpointSettings, error) {
	endpoints := map[string]*network.EndpointSettings{}
	nets := o.network.values
	if len(nets) == 0 {
		a := networkAttachment{target: network.NetworkDefault}
		if err := o.applyToFirst(&a); err != nil {
			return nil, err
		}
		ep, err := endpointOf(a)
		if err != nil {
			return nil, err
		}
		endpoints[network.NetworkDefault] = ep
		return endpoints, nil
	}
	var userDefined, other bool
	for i, a := range nets {
		if container.NetworkMode(a.target).IsUserDefined() {
			userDefined = true
		} else {
			other = true
		}
		if i == 0 {
			if err := o.applyToFirst(&a); err != nil {
				return nil, err
			}
		}
		ep, err := endpointOf(a)
		if err != nil {
			return nil, err
		}
		if _, dup := endpoints[a.target]; dup {
			return nil, fmt.Errorf("network %q is specified multiple times", a.target)
		}
		if i == 0 && len(nets) == 1 && isZeroEndpoint(ep) {
			continue
		}
		endpoints[a.target] = ep
	}
	if userDefined && other {
		return nil, errors.New("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
	}
	return endpoints, nil
}

func isZeroEndpoint(ep *network.EndpointSettings) bool {
	return ep.IPAMConfig == nil && len(ep.Links) == 0 && len(ep.Aliases) == 0 &&
		len(ep.DriverOpts) == 0 && ep.GwPriority == 0 && len(ep.MacAddress) == 0
}

func (o *containerOptions) applyToFirst(a *networkAttachment) error {
	conflict := func(what string) error {
		return fmt.Errorf("conflicting options: cannot specify both %s", what)
	}
	switch {
	case len(a.aliases) > 0 && len(o.aliases.values) > 0:
		return conflict("--network-alias and per-network alias")
	case len(a.links) > 0 && len(o.links.values) > 0:
		return conflict("--link and per-network links")
	case a.ipv4 != "" && o.ipv4 != "":
		return conflict("--ip and per-network IPv4 address")
	case a.ipv6 != "" && o.ipv6 != "":
		return conflict("--ip6 and per-network IPv6 address")
	case a.mac != "" && o.macAddress != "":
		return conflict("--mac-address and per-network MAC address")
	case len(a.linkLocalIPs) > 0 && len(o.linkLocalIPs.values) > 0:
		return conflict("--link-local-ip and per-network link-local IP addresses")
	}
	if len(o.aliases.values) > 0 {
		a.aliases = append([]string{}, o.aliases.values...)
	}
	// On a user-defined network a link is an alias of the endpoint; on
	// the default bridge it is a legacy link (HostConfig.Links).
	if container.NetworkMode(a.target).IsUserDefined() && len(o.links.values) > 0 {
		a.links = append([]string{}, o.links.values...)
	}
	if o.ipv4 != "" {
		a.ipv4 = o.ipv4
	}
	if o.ipv6 != "" {
		a.ipv6 = o.ipv6
	}
	if o.macAddress != "" {
		a.mac = o.macAddress
	}
	if len(o.linkLocalIPs.values) > 0 {
		a.linkLocalIPs = append([]string{}, o.linkLocalIPs.values...)
	}
	return nil
}

func endpointOf(a networkAttachment) (*network.EndpointSettings, error) {
	if strings.TrimSpace(a.target) == "" {
		return nil, errors.New("no name set for network")
	}
	if !container.NetworkMode(a.target).IsUserDefined() {
		if len(a.aliases) > 0 {
			return nil, errors.New("network-scoped aliases are only supported for user-defined networks")
		}
		if len(a.links) > 0 {
			return nil, errors.New("links are only supported for user-defined networks")
		}
	}
	ep := &network.EndpointSettings{GwPriority: a.gwPriority, DriverOpts: a.driverOpts}
	ep.Aliases = append(ep.Aliases, a.aliases...)
	if len(a.links) > 0 {
		ep.Links = a.links
	}
	if a.ipv4 != "" || a.ipv6 != "" || len(a.linkLocalIPs) > 0 {
		ipam := &network.EndpointIPAMConfig{}
		var err error
		if a.ipv4 != "" {
			if ipam.IPv4Address, err = toAddr("--ip", a.ipv4); err != nil {
				return nil, err
			}
		}
		if a.ipv6 != "" {
			if ipam.IPv6Address, err = toAddr("--ip6", a.ipv6); err != nil {
				return nil, err
			}
		}
		if ipam.LinkLocalIPs, err = toAddrs("--link-local-ip", a.linkLocalIPs); err != nil {
			return nil, err
		}
		ep.IPAMConfig = ipam
	}
	if a.mac != "" {
		hw, err := net.ParseMAC(strings.TrimSpace(a.mac))
		if err != nil {
			return nil, fmt.Errorf("%s is not a valid mac address", a.mac)
		}
		ep.MacAddress = network.HardwareAddr(hw)
	}
	return ep, nil
}

// toAddr parses an address docker's CLI 28 passed on as a string; the API
// types now hold parsed addresses, so a bad one fails here.
func toAddr(flag, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid argument %q for %q flag: invalid string being converted to IP address: %s", s, flag, s)
	}
	return a, nil
}

func toAddrs(flag string, list []string) ([]netip.Addr, error) {
	if list == nil {
		return nil, nil
	}
	out := make([]netip.Addr, 0, len(list))
	for _, s := range list {
		a, err := toAddr(flag, s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
