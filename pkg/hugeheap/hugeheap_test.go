package hugeheap

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// anonHugeKB returns AnonHugePages of the mapping that holds addr.
func anonHugeKB(t *testing.T, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		// A mapping's first line: "lo-hi perms offset dev inode [path]".
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && len(f) >= 5 {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(addr) >= a && uint64(addr) < b
				continue
			}
		}
		if in && strings.HasPrefix(line, "AnonHugePages:") {
			n, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return 0
}

// After Use, the mapping of the heap holds a huge page, and asking again
// changes nothing.
func TestHeapOnHugePage(t *testing.T) {
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(b), "[never]") {
		// Where THP is off, the kernel may or may not collapse
		// (MADV_COLLAPSE ignores the setting on some kernels): Use must
		// only leave a working heap.
		Use()
		if x := make([]byte, 1<<20); len(x) != 1<<20 {
			t.Fatal("heap broken")
		}
		return
	}
	if !Use() {
		t.Fatal("Use: no page collapsed")
	}
	if kb := anonHugeKB(t, uintptr(unsafe.Pointer(probe))); kb < hugeBytes>>10 {
		t.Fatalf("heap mapping at %p has AnonHugePages %d kB, want at least %d", probe, kb, hugeBytes>>10)
	}
	if !Use() {
		t.Fatal("Use again: no huge page")
	}
}
