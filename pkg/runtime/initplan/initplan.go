// Package initplan is the wire form of what a container's init, or a
// process exec'd into a container, does inside it before its execve: a
// list of operations the runtime plans in Go and cmd/runtime-init, a small
// static C program, carries out. Init and exec'd processes are that C
// program, not the runtime: a Go program starts and decodes its config in
// 1.5-2 ms where the C one needs a tenth of it, and init runs once per
// container (docs/runtime.md, "The container-side stage").
//
// Every decision that can be taken outside the container (parsing mount
// options, which fallback a mount type has, capability sets, the seccomp
// program) is taken by the runtime; the C side resolves paths inside the
// rootfs (openat2 RESOLVE_IN_ROOT), makes the system calls and reports
// errors. The op codes and argument lists below are mirrored in
// cmd/runtime-init/runtime-init.c (TestCodesMatchC keeps them equal).
//
// Encoding (little endian): u32 length of the rest, then ops: u16 code,
// u16 flags, u16 number of arguments, arguments. An argument is a kind byte
// and its value: 1 = int64; 2 = string (u32 length, bytes, NUL); 3 = string
// list (u32 count, then each as a string).
package initplan

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
)

// Code is an operation.
type Code uint16

// The operations and their arguments (s: string, i: int64, l: list).
const (
	// Setns (path s, nstype i): join a namespace by path.
	Setns Code = 1
	// Unshare (flags i, what s).
	Unshare Code = 2
	// Write (path s, data s, what s): write a file (sysctl, time offsets).
	Write Code = 3
	// Keyring (name s): join a new session keyring; failure is a warning.
	Keyring Code = 4
	// OOMScoreAdj (value i): written unless it already has the value.
	OOMScoreAdj Code = 5
	// Mount (source s, target s, fstype s, flags i, data s, errop s, errpath s).
	Mount Code = 10
	// SetRoot (rootfs s): open the rootfs; later InRoot paths are inside it.
	SetRoot Code = 11
	// MkTarget (path s, dir i): make a mount target that does not exist.
	MkTarget Code = 12
	// Mknod (path s, mode i, dev i, uid i, gid i): a device node; path is
	// relative to the rootfs's /dev.
	Mknod Code = 13
	// Symlink (target s, path s): existing paths are left.
	Symlink Code = 14
	// MkdirAll (path s, mode i).
	MkdirAll Code = 15
	// SetAttr (path s, set i, clear i, errpath s): mount_setattr, recursive.
	SetAttr Code = 16
	// Remount (path s, flags i, errop s, errpath s): bind remount keeping
	// the flags the kernel locked.
	Remount Code = 17
	// Ptmx: /dev/ptmx becomes a link to pts/ptmx when devpts has one.
	Ptmx Code = 18
	// HookSync: tell the parent to run its hooks and wait for its answer.
	HookSync Code = 19
	// Hook (kind s, path s, args l, env l, timeout i, stdin s).
	Hook Code = 20
	// Pivot (rootfs s, nopivot i).
	Pivot Code = 21
	// Chroot (rootfs s).
	Chroot Code = 22
	// StatRootfs (rootfs s, errmsg s).
	StatRootfs Code = 23
	// ReadonlyPath (path s).
	ReadonlyPath Code = 24
	// MaskPath (path s).
	MaskPath Code = 25
	// RootReadonly: remount / read-only.
	RootReadonly Code = 26
	// PrivateParent (path s): make the mount holding path private if it is
	// shared (from /proc/self/mountinfo, in the new mount namespace).
	PrivateParent Code = 27
	// Sethostname (name s).
	Sethostname Code = 30
	// Setdomainname (name s).
	Setdomainname Code = 31
	// Console (fd i, setsid i, width i, height i).
	Console Code = 32
	// Rlimit (resource i, soft i, hard i, name s).
	Rlimit Code = 33
	// Seccomp (program s, flags i, notify i, state s, agent fd i): load a
	// filter; with notify, send the listener fd and state to the agent.
	Seccomp Code = 34
	// CapsUser (bounding i, effective i, permitted i, inheritable i,
	// ambient i, uid i, gid i, gids l, last cap i, ambient names l).
	CapsUser Code = 35
	// NoNewPrivs.
	NoNewPrivs Code = 36
	// Umask (mask i).
	Umask Code = 37
	// Chdir (dir s).
	Chdir Code = 38
	// LookPath (name s, PATH s, cwd s): find the executable, before ready.
	LookPath Code = 39
	// Ready (prefix s): report ready with the spans; later errors go to
	// stderr after prefix and end the process.
	Ready Code = 40
	// Fifo (keep i): wait for `start` on the exec fifo (fd 4).
	Fifo Code = 41
	// MoveFds (base i, count i): preserved fds to 3.., the rest close-on-exec.
	MoveFds Code = 42
	// ResetSignals: signals inherited as ignored get their default action.
	ResetSignals Code = 43
	// Exec (args l, env l).
	Exec Code = 44
	// Span (name s, end i): begin or end a trace span.
	Span Code = 45
	// OpenProc: keep the host's /proc open (for the exec fifo after pivot).
	OpenProc Code = 46
	// LoopbackUp: bring lo up in the new network namespace.
	LoopbackUp Code = 47
	// AwaitCgroups: wait for the parent's line "cgroups", sent once init
	// is in its cgroups. The parent sends the plan first and makes the
	// cgroups while init carries out what comes before this.
	AwaitCgroups Code = 48
)

// Flag changes how an operation runs.
type Flag uint16

const (
	// InRoot: the path arguments are inside the rootfs.
	InRoot Flag = 1 << iota
	// OrElse: on failure run the next operation instead; on success skip
	// it. With a count in bits 8-15, that many operations are the
	// alternative. If the alternative fails too, the first error counts.
	OrElse
	// BestEffort: a failure is ignored.
	BestEffort
)

// Op is one operation; Args are int64, string, []byte or []string.
type Op struct {
	Code  Code
	Flags Flag
	Args  []any
}

// Plan is a list of operations.
type Plan struct {
	Ops []Op
}

// Add appends an operation; integers of any size and bools become int64.
func (p *Plan) Add(code Code, flags Flag, args ...any) {
	for i, a := range args {
		switch v := reflect.ValueOf(a); v.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
			args[i] = v.Int()
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			args[i] = int64(v.Uint())
		case reflect.Bool:
			args[i] = int64(0)
			if v.Bool() {
				args[i] = int64(1)
			}
		}
	}
	p.Ops = append(p.Ops, Op{Code: code, Flags: flags, Args: args})
}

// MaxArgs is the most arguments an operation has (MAX_ARGS in the C program).
const MaxArgs = 12

// Encode is the wire form.
func (p *Plan) Encode() ([]byte, error) {
	b := make([]byte, 4, 4096)
	for _, op := range p.Ops {
		if len(op.Args) > MaxArgs {
			return nil, fmt.Errorf("initplan: op %d: %d arguments, at most %d", op.Code, len(op.Args), MaxArgs)
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(op.Code))
		b = binary.LittleEndian.AppendUint16(b, uint16(op.Flags))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(op.Args)))
		for _, a := range op.Args {
			switch v := a.(type) {
			case int64:
				b = append(b, 1)
				b = binary.LittleEndian.AppendUint64(b, uint64(v))
			case []byte: // binary data (a seccomp program): sent as a string
				b = append(b, 2)
				b = appendString(b, string(v))
			case string:
				if strings.IndexByte(v, 0) >= 0 {
					return nil, fmt.Errorf("initplan: %q contains a NUL byte", v)
				}
				b = append(b, 2)
				b = appendString(b, v)
			case []string:
				b = append(b, 3)
				b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
				for _, s := range v {
					if strings.IndexByte(s, 0) >= 0 {
						return nil, fmt.Errorf("initplan: %q contains a NUL byte", s)
					}
					b = appendString(b, s)
				}
			default:
				return nil, fmt.Errorf("initplan: op %d: argument of type %T", op.Code, a)
			}
		}
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	b = append(b, s...)
	return append(b, 0)
}
