package memtrim

import (
	"sync/atomic"
	"testing"
	"time"
)

// A burst of requests gives one trim, after the last of them; a later
// burst another.
func TestOneTrimPerBurst(t *testing.T) {
	var trims atomic.Int32
	tr := &Trimmer{quiet: 50 * time.Millisecond, free: func() { trims.Add(1) }}
	defer tr.Stop()
	for range 10 {
		tr.Done()
		time.Sleep(10 * time.Millisecond)
	}
	if n := trims.Load(); n != 0 {
		t.Fatalf("%d trims during the burst", n)
	}
	waitFor(t, &trims, 1)
	tr.Done()
	waitFor(t, &trims, 2)
	time.Sleep(150 * time.Millisecond)
	if n := trims.Load(); n != 2 {
		t.Fatalf("%d trims for two bursts", n)
	}
}

func TestNilTrimmer(t *testing.T) {
	var tr *Trimmer
	tr.Done()
	tr.Stop()
}

func waitFor(t *testing.T, n *atomic.Int32, want int32) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if n.Load() == want {
			return
		}
	}
	t.Fatalf("%d trims, want %d", n.Load(), want)
}
