package container

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthd/berth/pkg/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// LoadSpec reads bundle/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	s, raw, err := loadBundleSpec(bundle)
	if err != nil {
		return nil, err
	}
	if len(raw) > 0 && string(raw) != "null" {
		s.Linux.Seccomp = new(specs.LinuxSeccomp)
		if err := json.Unmarshal(raw, s.Linux.Seccomp); err != nil {
			return nil, classErr(ErrInvalidArgument, "parse %s: linux.seccomp: %v", filepath.Join(bundle, "config.json"), err)
		}
	}
	return s, nil
}

// rawSeccompSpec is config.json with linux.seccomp left undecoded: the
// outer fields shadow the embedded ones of the same name. A profile like
// Docker's is most of the file, and decoding it through reflection cost
// more than compiling it; create only needs its bytes when the compiled
// filter is cached, exec never needs it.
//
// The other platforms' sections are shadowed too, and so never decoded (a
// Linux runtime ignores them, as runc does): encoding/json builds the codecs
// of every type a struct reaches on its first use in a process, and theirs
// are about a fifth of specs.Spec's. The first decode of `runtime spec`'s
// config.json in a fresh process: 1.8-2.3 -> 1.6 ms (medians of 40).
type rawSeccompSpec struct {
	specs.Spec
	Linux *struct {
		specs.Linux
		Seccomp json.RawMessage `json:"seccomp,omitempty"`
	} `json:"linux,omitempty"`
	Solaris json.RawMessage `json:"solaris,omitempty"`
	Windows json.RawMessage `json:"windows,omitempty"`
	VM      json.RawMessage `json:"vm,omitempty"`
	ZOS     json.RawMessage `json:"zos,omitempty"`
}

// loadBundleSpec reads bundle/config.json with linux.seccomp nil in the
// spec and returned raw (nil when absent).
func loadBundleSpec(bundle string) (*specs.Spec, json.RawMessage, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, nil, fmt.Errorf("read bundle config: %w", err)
	}
	if warming != nil {
		<-warming
	}
	var rs rawSeccompSpec
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, nil, classErr(ErrInvalidArgument, "parse %s: %v", filepath.Join(bundle, "config.json"), err)
	}
	s := rs.Spec
	if rs.Linux == nil {
		s.Linux = nil
		return &s, nil, nil
	}
	s.Linux = &rs.Linux.Linux
	return &s, rs.Linux.Seccomp, nil
}

// nsCloneFlag maps namespace types to the flags of clone(2).
var nsTypes = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.MountNamespace: true,
	specs.IPCNamespace: true, specs.UTSNamespace: true, specs.UserNamespace: true,
	specs.CgroupNamespace: true, specs.TimeNamespace: true,
}

// joinable are the namespaces init can setns into on its own thread;
// joining the others needs a single-threaded process: InitHelper does
// it before the runtime starts as init (see joinsEarly).
var joinable = map[specs.LinuxNamespaceType]bool{
	specs.NetworkNamespace: true, specs.IPCNamespace: true, specs.UTSNamespace: true,
	specs.CgroupNamespace: true,
}

// earlyJoin are the namespaces joined by path by InitHelper.
var earlyJoin = map[specs.LinuxNamespaceType]string{
	specs.UserNamespace: "user", specs.PIDNamespace: "pid", specs.TimeNamespace: "time", specs.MountNamespace: "mnt",
}

// joinsEarly reports whether InitHelper must join namespaces by path before init is set up.
func joinsEarly(s *specs.Spec) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Path != "" && earlyJoin[ns.Type] != "" {
			return true
		}
	}
	return false
}

func isNewNS(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t && ns.Path == "" {
			return true
		}
	}
	return false
}

func invalid(format string, a ...any) error {
	return classErr(ErrInvalidArgument, "invalid config: "+format, a...)
}

func unsupported(format string, a ...any) error {
	return classErr(ErrNotImplemented, "unsupported config: "+format, a...)
}

// Validate checks what create relies on; bundle is used to resolve root.path.
func Validate(s *specs.Spec, bundle string) error {
	_, err := check(s, bundle)
	return err
}

// check is Validate that also returns the compiled seccomp filter (nil
// without linux.seccomp), so that create compiles the profile once and
// hands the program to init (a profile the size of Docker's costs
// hundreds of microseconds to compile).
func check(s *specs.Spec, bundle string) (*seccomp.Filter, error) {
	if err := validate(s, bundle); err != nil {
		return nil, err
	}
	if s.Linux.Seccomp == nil {
		return nil, nil
	}
	f, err := seccomp.Compile(s.Linux.Seccomp)
	if err != nil {
		return nil, classErr(ErrInvalidArgument, "invalid config: %v", err)
	}
	return f, nil
}

// validate is Validate but for linux.seccomp.
func validate(s *specs.Spec, bundle string) error {
	if s.Version == "" {
		return invalid("ociVersion is empty")
	}
	if s.Root == nil || s.Root.Path == "" {
		return invalid("root.path is empty")
	}
	root := s.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	if fi, err := os.Stat(root); err != nil {
		return invalid("rootfs %s: %v", root, err)
	} else if !fi.IsDir() {
		return invalid("rootfs %s is not a directory", root)
	}
	if s.Process == nil {
		return invalid("process is not set")
	}
	if len(s.Process.Args) == 0 {
		return invalid("process.args is empty")
	}
	if s.Process.Cwd == "" || !filepath.IsAbs(s.Process.Cwd) {
		return invalid("process.cwd %q is not an absolute path", s.Process.Cwd)
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return invalid("mount destination %q is not absolute", m.Destination)
		}
	}
	if s.Linux == nil {
		return invalid("linux section is missing")
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range s.Linux.Namespaces {
		if !nsTypes[ns.Type] {
			return invalid("unknown namespace type %q", ns.Type)
		}
		if seen[ns.Type] {
			return invalid("namespace %q listed twice", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" && !joinable[ns.Type] && earlyJoin[ns.Type] == "" {
			return unsupported("joining an existing %s namespace (path %s)", ns.Type, ns.Path)
		}
	}
	if !seen[specs.MountNamespace] {
		if err := checkNoMountNS(s); err != nil {
			return err
		}
	}
	if s.Hostname != "" && !seen[specs.UTSNamespace] {
		return invalid("hostname requires a new UTS namespace")
	}
	if joinsEarly(s) {
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.UserNamespace && ns.Path == "" {
				return unsupported("a new user namespace together with joining a pid, mount or time namespace by path")
			}
		}
		if !isNewNS(s, specs.TimeNamespace) && len(s.Linux.TimeOffsets) > 0 {
			return invalid("timeOffsets need a new time namespace, not a joined one")
		}
	}
	if len(s.Linux.TimeOffsets) > 0 && !seen[specs.TimeNamespace] {
		return invalid("timeOffsets require a time namespace")
	}
	for clock := range s.Linux.TimeOffsets {
		if clock != "monotonic" && clock != "boottime" {
			return invalid("timeOffsets: unknown clock %q (monotonic or boottime)", clock)
		}
	}
	if isNewNS(s, specs.UserNamespace) && (len(s.Linux.UIDMappings) == 0 || len(s.Linux.GIDMappings) == 0) {
		return invalid("user namespace without uidMappings/gidMappings")
	}
	if s.Linux.IntelRdt != nil {
		return unsupported("linux.intelRdt")
	}
	if s.Process.SelinuxLabel != "" || s.Linux.MountLabel != "" {
		return unsupported("SELinux labels")
	}
	if s.Process.ApparmorProfile != "" {
		// AppArmor is not enforced on this runtime yet; runc ignores it when disabled.
		Warnf("apparmor profile %q ignored: AppArmor is not supported", s.Process.ApparmorProfile)
	}
	if s.Process.Capabilities != nil {
		if _, err := capsFromSpec(s.Process.Capabilities); err != nil {
			return invalid("%v", err)
		}
	}
	return nil
}

// Warnf logs a warning; the command line sets it to its logger.
var Warnf = func(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "warning: "+format+"\n", args...)
}

// Warm does the first-use work of decoding a bundle's config.json and a
// container's state.json: encoding/json builds the codecs of every type
// reachable from specs.Spec (about a hundred) on its first decode, 1 to
// 10 ms on the test machine. It also has package os make its one-time
// check of pidfd support, which clones and reaps a child, before init is
// started. A standby runtime does it while it waits for its command, off
// the path of the create; a create from the command line beside its
// start-up (WarmAhead).
func Warm() {
	var rs rawSeccompSpec
	_ = json.Unmarshal([]byte(`{"linux":{}}`), &rs)
	var st State
	_ = json.Unmarshal([]byte(`{}`), &st)
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Release()
	}
}

// warming is closed when the Warm that WarmAhead started is done.
var warming chan struct{}

// WarmAhead starts Warm beside what the caller does next (a command line's
// parsing, its signal set-up): the bundle's load then waits for it rather
// than build the same codecs beside it. A process's later calls (a standby
// runs several commands) do nothing.
func WarmAhead() {
	if warming != nil {
		return
	}
	warming = make(chan struct{})
	go func() {
		defer close(warming)
		Warm()
	}()
}
