// Package hugeheap backs the heap of a short-lived Go command with
// transparent huge pages, so that its first touches of the heap do not
// each take a page fault. A command asks for them from the init of a
// package with few imports, which Go initializes early
// (cmd/runtime/internal/heap, cmd/ctl/internal/heap), before its other
// packages' inits grow the heap.
//
// A Go command touches a fresh page for nearly every size class it
// allocates from, some hundred heap pages for the runtime's `run` or a ctl
// command. On this project's machines (PVM guests) a page fault exits to
// the hypervisor, about 10 us each. One 2 MB page backs what those pages
// would: a runtime `run true` 28 -> 23.5 ms (docs/performance.md, "A
// command's start: huge pages, ..."). Daemons, the shim and the runtime in standby (which
// may live as long as its container) do not use it: a huge page is 2 MB
// resident, more than a shim's whole heap.
package hugeheap

import (
	"syscall"
	"unsafe"
)

const (
	// chunkBytes is the unit in which the Go runtime maps its heap
	// (pallocChunkBytes); a command's heap starts at a random page of its
	// first chunk and grows upwards.
	chunkBytes = 4 << 20
	hugeBytes  = 2 << 20
	// madvCollapse is MADV_COLLAPSE (Linux 6.1).
	madvCollapse = 25
)

// probe is a heap object whose address tells where the heap is.
var probe *[64]byte

// Use asks for huge pages under the heap's current chunk, from the 2 MB
// page that holds a fresh object up: those already touched are collapsed
// into huge pages (MADV_COLLAPSE copies their small pages), the others are
// marked so that their first touch maps a huge page (MADV_HUGEPAGE). It
// reports whether a page was collapsed. Where the kernel cannot (THP off,
// an older kernel) the heap stays as it was: nothing depends on it.
func Use() bool {
	probe = new([64]byte)
	a := uintptr(unsafe.Pointer(probe))
	chunk := a &^ (chunkBytes - 1)
	start := a &^ (hugeBytes - 1)
	_ = madvise(start, chunk+chunkBytes-start, syscall.MADV_HUGEPAGE)
	collapsed := false
	// A 2 MB page not touched yet fails with EINVAL: its first touch maps
	// its huge page instead.
	for p := start; p < chunk+chunkBytes; p += hugeBytes {
		if madvise(p, hugeBytes, madvCollapse) == nil {
			collapsed = true
		}
	}
	return collapsed
}

func madvise(addr, length uintptr, advice int) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, length, uintptr(advice)); e != 0 {
		return e
	}
	return nil
}
