// Command runtimebench times OCI runtimes side by side on one busybox bundle,
// as a shim drives them: create, start, wait for the container's exit (as its
// subreaper), delete; `run` of the same container; and `run` of it under
// Docker's default seccomp profile (what every engine hands a runtime by
// default), so that what the profile costs each runtime is seen beside the
// rest. The runtimes take turns, round by round. It prints the median of
// each and its ratio to the first runtime given.
//
//	runtimebench -n 50 bin/runtime /usr/sbin/runc /usr/bin/crun
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/test/image"
)

func main() {
	n := flag.Int("n", 50, "iterations per runtime and measure")
	flag.Parse()
	runtimes := flag.Args()
	if len(runtimes) == 0 {
		fmt.Fprintln(os.Stderr, "usage: runtimebench [-n N] RUNTIME...")
		os.Exit(2)
	}
	if err := run(*n, runtimes); err != nil {
		fmt.Fprintln(os.Stderr, "runtimebench:", err)
		os.Exit(1)
	}
}

func run(n int, runtimes []string) error {
	// The shim's position: container inits are reparented to us.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bundle := filepath.Join(dir, "bundle")
	if err := makeBundle(bundle, false); err != nil {
		return err
	}
	scmpBundle := filepath.Join(dir, "bundle-seccomp")
	if err := makeBundle(scmpBundle, true); err != nil {
		return err
	}
	type result struct{ cycle, run, runSeccomp time.Duration }
	// Interleaved: each round times every runtime once, so that a busy
	// machine slows them alike instead of whichever ran during the burst.
	roots := map[string]string{}
	samples := map[string]*[3][]time.Duration{}
	for _, rt := range runtimes {
		root := filepath.Join(dir, "root-"+filepath.Base(rt))
		if err := os.MkdirAll(root, 0o700); err != nil {
			return err
		}
		roots[rt], samples[rt] = root, new([3][]time.Duration)
	}
	order := rand.New(rand.NewPCG(1, 2)) // the same orders in every run
	for i := 0; i < n+2; i++ {           // two warm-up rounds
		// A new order every round: what a runtime costs depends on the one
		// before it (the first cgroup write after a quiet spell waits an RCU
		// grace period that writes right after it skip, docs/performance.md;
		// the slot after runc or crun measured 3-5 ms slower here), so a
		// fixed order would charge that to the same runtime every time.
		for _, k := range order.Perm(len(runtimes)) {
			rt := runtimes[k]
			root := roots[rt]
			id := fmt.Sprintf("b%d", i)
			d, err := cycle(rt, root, bundle, id)
			if err != nil {
				return fmt.Errorf("%s cycle: %w", rt, err)
			}
			start := time.Now()
			if out, err := exec.Command(rt, "--root", root, "run", "--bundle", bundle, id+"r").CombinedOutput(); err != nil {
				return fmt.Errorf("%s run: %v: %s", rt, err, out)
			}
			r := time.Since(start)
			_ = exec.Command(rt, "--root", root, "delete", "--force", id+"r").Run()
			start = time.Now()
			if out, err := exec.Command(rt, "--root", root, "run", "--bundle", scmpBundle, id+"s").CombinedOutput(); err != nil {
				return fmt.Errorf("%s run (seccomp): %v: %s", rt, err, out)
			}
			rs := time.Since(start)
			_ = exec.Command(rt, "--root", root, "delete", "--force", id+"s").Run()
			if i >= 2 {
				sm := samples[rt]
				sm[0], sm[1], sm[2] = append(sm[0], d), append(sm[1], r), append(sm[2], rs)
			}
		}
	}
	results := map[string]result{}
	for _, rt := range runtimes {
		sm := samples[rt]
		results[rt] = result{median(sm[0]), median(sm[1]), median(sm[2])}
	}
	base := results[runtimes[0]]
	fmt.Printf("%-24s %14s %8s %14s %8s %14s %8s %10s\n", "runtime", "create+start+", "ratio", "run true", "ratio", "run true,", "ratio", "profile")
	fmt.Printf("%-24s %14s %8s %14s %8s %14s %8s %10s\n", "", "wait+delete", "", "", "", "Docker seccomp", "", "costs")
	for _, rt := range runtimes {
		r := results[rt]
		fmt.Printf("%-24s %14s %8.2f %14s %8.2f %14s %8.2f %10s\n", rt, r.cycle.Round(10*time.Microsecond),
			float64(r.cycle)/float64(base.cycle), r.run.Round(10*time.Microsecond), float64(r.run)/float64(base.run),
			r.runSeccomp.Round(10*time.Microsecond), float64(r.runSeccomp)/float64(base.runSeccomp),
			(r.runSeccomp - r.run).Round(10*time.Microsecond))
	}
	fmt.Printf("(medians of %d; ratio = runtime / %s; lower is faster)\n", n, runtimes[0])
	return nil
}

// cycle times create, start, the container's exit and delete.
func cycle(rt, root, bundle, id string) (time.Duration, error) {
	pidFile := filepath.Join(root, id+".pid")
	start := time.Now()
	// The container inherits create's stdio; a pipe here would be held open
	// by the container's init and never reach EOF, so errors go to a file.
	errFile, err := os.CreateTemp(root, "create-err")
	if err != nil {
		return 0, err
	}
	defer os.Remove(errFile.Name())
	defer errFile.Close()
	create := exec.Command(rt, "--root", root, "create", "--bundle", bundle, "--pid-file", pidFile, id)
	create.Stderr = errFile
	if err := create.Run(); err != nil {
		out, _ := os.ReadFile(errFile.Name())
		return 0, fmt.Errorf("create: %v: %s", err, out)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, err
	}
	if out, err := exec.Command(rt, "--root", root, "start", id).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("start: %v: %s", err, out)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return 0, fmt.Errorf("wait %d: %w", pid, err)
	}
	if out, err := exec.Command(rt, "--root", root, "delete", id).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("delete: %v: %s", err, out)
	}
	d := time.Since(start)
	_ = os.Remove(pidFile)
	return d, nil
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// makeBundle writes a busybox bundle whose process is `true`, with the
// namespaces and mounts every runtime sets up for a real container, and
// with Docker's default seccomp profile for its capabilities if asked.
func makeBundle(bundle string, withSeccomp bool) error {
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	if err := image.PopulateRootfs(rootfs); err != nil {
		return err
	}
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
	spec := specs.Spec{
		Version: "1.0.2", // the oldest version every compared runtime accepts
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{
			Args: []string{"true"},
			Env:  []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			NoNewPrivileges: true,
		},
		Hostname: "bench",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "",
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths:   []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	if withSeccomp {
		p, err := seccomp.GetDefaultProfile(&spec)
		if err != nil {
			return err
		}
		spec.Linux.Seccomp = p
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)
}
