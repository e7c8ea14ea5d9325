package initplan

import (
	"encoding/binary"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	var p Plan
	p.Add(Mount, InRoot|OrElse, "src", "/dst", int(-1), uint64(1<<63), true, []string{"a", ""})
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if n := le.Uint32(b); int(n) != len(b)-4 {
		t.Fatalf("length %d, rest %d", n, len(b)-4)
	}
	want := []byte{10, 0, 3, 0, 6, 0}
	want = append(want, 2, 3, 0, 0, 0, 's', 'r', 'c', 0)
	want = append(want, 2, 4, 0, 0, 0, '/', 'd', 's', 't', 0)
	want = append(want, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	want = append(want, 1, 0, 0, 0, 0, 0, 0, 0, 0x80)
	want = append(want, 1, 1, 0, 0, 0, 0, 0, 0, 0)
	want = append(want, 3, 2, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 0, 0, 0, 0, 0)
	if got := b[4:]; string(got) != string(want) {
		t.Fatalf("encoded\n%v\nwant\n%v", got, want)
	}
	p.Add(Exec, 0, 1.5)
	if _, err := p.Encode(); err == nil {
		t.Fatal("a float argument was encoded")
	}
	for _, bad := range []any{"a\x00b", []string{"ok", "A=\x00"}} {
		p.Ops = p.Ops[:1]
		p.Add(Exec, 0, bad)
		if _, err := p.Encode(); err == nil || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("%q: %v, want an error about its NUL byte", bad, err)
		}
	}
	p.Ops = p.Ops[:1]
	p.Add(Seccomp, 0, []byte{0, 1, 0})
	if _, err := p.Encode(); err != nil {
		t.Errorf("binary data: %v", err)
	}
	p.Ops = p.Ops[:1]
	p.Add(Exec, 0, make([]any, MaxArgs+1)...)
	if _, err := p.Encode(); err == nil {
		t.Fatal("an op with too many arguments was encoded")
	}
}

// The C program's op codes and flags are the ones declared here.
func TestCodesMatchC(t *testing.T) {
	src, err := os.ReadFile("../../../cmd/runtime-init/runtime-init.c")
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]int{}
	if m := regexp.MustCompile(`(?m)^#define MAX_ARGS (\d+)$`).FindSubmatch(src); m == nil || string(m[1]) != strconv.Itoa(MaxArgs) {
		t.Errorf("C's MAX_ARGS is not %d", MaxArgs)
	}
	for _, m := range regexp.MustCompile(`(?m)^\t((?:OP|F)_[A-Z_0-9]+) = (\d+),`).FindAllSubmatch(src, -1) {
		n, _ := strconv.Atoi(string(m[2]))
		c[string(m[1])] = n
	}
	goCodes := map[string]int{
		"OP_SETNS": int(Setns), "OP_UNSHARE": int(Unshare), "OP_WRITE": int(Write), "OP_KEYRING": int(Keyring),
		"OP_OOM_SCORE_ADJ": int(OOMScoreAdj), "OP_MOUNT": int(Mount), "OP_SET_ROOT": int(SetRoot),
		"OP_MK_TARGET": int(MkTarget), "OP_MKNOD": int(Mknod), "OP_SYMLINK": int(Symlink), "OP_MKDIR_ALL": int(MkdirAll),
		"OP_SET_ATTR": int(SetAttr), "OP_REMOUNT": int(Remount), "OP_PTMX": int(Ptmx), "OP_HOOK_SYNC": int(HookSync),
		"OP_HOOK": int(Hook), "OP_PIVOT": int(Pivot), "OP_CHROOT": int(Chroot), "OP_STAT_ROOTFS": int(StatRootfs),
		"OP_READONLY_PATH": int(ReadonlyPath), "OP_MASK_PATH": int(MaskPath), "OP_ROOT_READONLY": int(RootReadonly),
		"OP_PRIVATE_PARENT": int(PrivateParent), "OP_SETHOSTNAME": int(Sethostname), "OP_SETDOMAINNAME": int(Setdomainname),
		"OP_CONSOLE": int(Console), "OP_RLIMIT": int(Rlimit), "OP_SECCOMP": int(Seccomp), "OP_CAPS_USER": int(CapsUser),
		"OP_NO_NEW_PRIVS": int(NoNewPrivs), "OP_UMASK": int(Umask), "OP_CHDIR": int(Chdir), "OP_LOOK_PATH": int(LookPath),
		"OP_READY": int(Ready), "OP_FIFO": int(Fifo), "OP_MOVE_FDS": int(MoveFds), "OP_RESET_SIGNALS": int(ResetSignals),
		"OP_EXEC": int(Exec), "OP_SPAN": int(Span), "OP_OPEN_PROC": int(OpenProc), "OP_LOOPBACK_UP": int(LoopbackUp),
		"OP_AWAIT_CGROUPS": int(AwaitCgroups), "F_IN_ROOT": int(InRoot), "F_OR_ELSE": int(OrElse), "F_BEST_EFFORT": int(BestEffort),
	}
	for name, v := range goCodes {
		if got, ok := c[name]; !ok || got != v {
			t.Errorf("%s: C has %d (declared %v), Go %d", name, got, ok, v)
		}
	}
	for name := range c {
		if _, ok := goCodes[name]; !ok {
			t.Errorf("%s is in the C program only", name)
		}
	}
}
