package seccomp

import (
	"encoding/json"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// FuzzCompile decodes a linux.seccomp object and compiles it: a profile is
// refused with an error or becomes a program the kernel would take (1 to
// 4096 instructions, every jump inside the program, ending in a return)
// that survives the trip to container init (MarshalJSON/UnmarshalJSON).
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`{"defaultAction":"SCMP_ACT_ALLOW"}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_NE"},{"index":1,"value":255,"valueTwo":3,"op":"SCMP_CMP_MASKED_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_KILL_PROCESS","flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/x","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_TRACE","errnoRet":5}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["nosuchcall"],"action":"SCMP_ACT_ERRNO"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c specs.LinuxSeccomp
		if json.Unmarshal(data, &c) != nil {
			return
		}
		fl, err := Compile(&c)
		if err != nil {
			return
		}
		p := fl.Prog
		if len(p) == 0 || len(p) > 4096 {
			t.Fatalf("program of %d instructions", len(p))
		}
		for i, in := range p {
			if in.Code&0x07 != unix.BPF_JMP {
				continue
			}
			var targets []int
			if in.Code&0xf0 == unix.BPF_JA {
				targets = []int{i + 1 + int(in.K)}
			} else {
				targets = []int{i + 1 + int(in.Jt), i + 1 + int(in.Jf)}
			}
			for _, to := range targets {
				if to >= len(p) {
					t.Fatalf("instruction %d jumps to %d of %d", i, to, len(p))
				}
			}
		}
		if last := p[len(p)-1]; last.Code&0x07 != unix.BPF_RET {
			t.Fatalf("the program ends in %#x, not a return", last.Code)
		}
		b, err := fl.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Filter
		if err := back.UnmarshalJSON(b); err != nil || !reflect.DeepEqual(&back, fl) {
			t.Fatalf("the compiled filter does not survive the wire: %v", err)
		}
	})
}
