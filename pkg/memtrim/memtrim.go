// Package memtrim gives a daemon's freed memory back to the kernel once a
// burst of requests is over, instead of keeping it for the Go runtime's
// background scavenger to return over minutes: an idle engined and
// supervisord after an image load or a batch of starts otherwise hold
// several megabytes of heap they no longer use (issue 14's idle PSS).
package memtrim

import (
	"runtime/debug"
	"sync"
	"time"
)

// Quiet is the daemons' pause before a trim: long enough that a client's
// next call of the same command (ctl's requests come within milliseconds)
// does not follow a forced collection, short enough that an idle daemon
// is measured trimmed.
const Quiet = time.Second

// Trimmer returns freed memory Quiet after the last request ended: one
// forced collection per burst, none while requests keep ending. A nil
// Trimmer does nothing.
type Trimmer struct {
	quiet time.Duration
	free  func()

	mu    sync.Mutex
	timer *time.Timer
}

// New returns a Trimmer that trims quiet after the last Done.
func New(quiet time.Duration) *Trimmer {
	return &Trimmer{quiet: quiet, free: debug.FreeOSMemory}
}

// Done notes the end of a request, putting the trim off until quiet has
// passed without another.
func (t *Trimmer) Done() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer == nil {
		t.timer = time.AfterFunc(t.quiet, t.free)
		return
	}
	t.timer.Reset(t.quiet)
}

// Stop cancels a pending trim.
func (t *Trimmer) Stop() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
}
