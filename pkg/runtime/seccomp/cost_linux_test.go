package seccomp

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// What Docker's default program costs in the kernel, in either layout, as
// CPU time (user+sys) of the thread that loads it and makes syscalls through
// it: wall time means nothing on a shared machine. A filter is loaded for
// good, so each measurement is a child process (this test binary again,
// running TestFilterCostChild); loading needs no root (no_new_privs).
//
//	go test -run XXX -bench FilterCost -count 5 ./pkg/runtime/seccomp

const costEnv = "BERTH_SECCOMP_COST" // layout,copies,syscall,count

// costSyscalls are the syscalls measured with their first argument:
// getppid, which the filter always allows (the kernel's action cache then
// skips the filter); personality(0xffffffff), allowed by an argument rule;
// keyctl, denied by the default action.
var costSyscalls = map[string][2]uintptr{
	"getppid":     {unix.SYS_GETPPID, 0},
	"personality": {unix.SYS_PERSONALITY, 0xffffffff},
	"keyctl":      {unix.SYS_KEYCTL, ^uintptr(0)},
}

// TestFilterCostChild is the child of the FilterCost benchmarks: it loads
// the program copies times, makes count syscalls, and prints the thread's
// CPU time for each of the two steps, in ns.
func TestFilterCostChild(t *testing.T) {
	arg := os.Getenv(costEnv)
	if arg == "" {
		t.Skip("run by the FilterCost benchmarks")
	}
	f := strings.Split(arg, ",")
	copies, _ := strconv.Atoi(f[1])
	count, _ := strconv.Atoi(f[3])
	sc, ok := costSyscalls[f[2]]
	if len(f) != 4 || !ok {
		t.Fatalf("%s=%q", costEnv, arg)
	}
	var prog []unix.SockFilter
	if copies > 0 {
		p, err := parse(dockerProfile(t, dockerDefaultCaps))
		if err != nil {
			t.Fatal(err)
		}
		lay := searchSection
		if f[0] == "linear" {
			lay = linearSection
		}
		prog = assemble(p.sections(lay))
	}
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t0 := threadCPU(t)
	for range copies {
		if _, err := (&Filter{Prog: prog}).Load(); err != nil {
			t.Fatal(err)
		}
	}
	t1 := threadCPU(t)
	for range count {
		unix.RawSyscall(sc[0], sc[1], 0, 0)
	}
	t2 := threadCPU(t)
	fmt.Printf("cost %d %d\n", t1-t0, t2-t1)
	os.Exit(0)
}

// threadCPU is the calling thread's CPU time, user+sys, to the ns (getrusage
// only moves at the scheduler's tick).
func threadCPU(t *testing.T) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// costChild runs the child and returns its load and syscall CPU times.
func costChild(b *testing.B, layout string, copies int, syscall string, count int) (load, calls time.Duration) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFilterCostChild$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%s,%d", costEnv, layout, copies, syscall, count))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	var l, c int64
	if _, err := fmt.Sscanf(string(out), "cost %d %d", &l, &c); err != nil {
		b.Fatalf("child said %q: %v", out, err)
	}
	return time.Duration(l), time.Duration(c)
}

// BenchmarkFilterCostLoad: CPU time of seccomp(2) loading the program
// (the kernel checks it, converts it to eBPF, JITs it, and runs it once per
// syscall number for its action cache).
func BenchmarkFilterCostLoad(b *testing.B) {
	for _, layout := range []string{"linear", "search"} {
		b.Run(layout, func(b *testing.B) {
			var sum time.Duration
			for b.Loop() {
				load, _ := costChild(b, layout, 1, "getppid", 0)
				sum += load
			}
			b.ReportMetric(float64(sum.Nanoseconds())/float64(b.N), "cpu-ns/load")
		})
	}
}

// BenchmarkFilterCostSyscall: CPU time one filter adds to a syscall. The
// program is stacked 8 times (each syscall runs all of them) and the
// figure divided by 8, so that it stands out of the syscall's own cost.
func BenchmarkFilterCostSyscall(b *testing.B) {
	const copies, count = 8, 200000
	for _, layout := range []string{"linear", "search"} {
		for _, sc := range []string{"getppid", "personality", "keyctl"} {
			b.Run(layout+"/"+sc, func(b *testing.B) {
				var filtered, bare time.Duration
				for b.Loop() {
					_, c := costChild(b, layout, copies, sc, count)
					_, n := costChild(b, layout, 0, sc, count)
					filtered, bare = filtered+c, bare+n
				}
				b.ReportMetric(float64((filtered-bare).Nanoseconds())/float64(b.N*count*copies), "cpu-ns/syscall/filter")
			})
		}
	}
}
