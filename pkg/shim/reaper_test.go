package shim

import (
	"os/exec"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/testprereq"
)

func TestReaperRemembersEarlyExit(t *testing.T) {
	r := NewReaper()
	r.dispatch(Exit{Pid: 42, Status: 3})
	select {
	case e := <-r.Wait(42):
		if e.Status != 3 {
			t.Fatalf("status %d", e.Status)
		}
	default:
		t.Fatal("remembered exit not delivered")
	}
	if len(r.recent) != 0 || len(r.order) != 0 {
		t.Fatal("claimed exit still remembered")
	}
}

func TestReaperDeliversToWaiters(t *testing.T) {
	r := NewReaper()
	a, b := r.Wait(7), r.Wait(7)
	r.dispatch(Exit{Pid: 7, Status: 137})
	for _, c := range []<-chan Exit{a, b} {
		if e := <-c; e.Status != 137 {
			t.Fatalf("status %d", e.Status)
		}
	}
	if len(r.waiters) != 0 || len(r.recent) != 0 {
		t.Fatal("bookkeeping left behind")
	}
}

func TestReaperBoundsRecent(t *testing.T) {
	r := NewReaper()
	for pid := 1; pid <= 3*maxRecent; pid++ {
		r.dispatch(Exit{Pid: pid})
	}
	if len(r.recent) != maxRecent || len(r.order) != maxRecent {
		t.Fatalf("recent %d order %d", len(r.recent), len(r.order))
	}
	if _, ok := r.recent[3*maxRecent]; !ok {
		t.Fatal("newest exit forgotten")
	}
}

// A real child, started and reaped through the reaper (this makes the test
// process a subreaper, which is harmless).
func TestReaperStart(t *testing.T) {
	r := NewReaper()
	stop := make(chan struct{})
	defer close(stop)
	if err := r.Run(stop); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "exit 5")
	c, err := r.Start(cmd)
	testprereq.Require(t, err == nil, "start /bin/sh: %v", err)
	select {
	case e := <-c:
		if e.Status != 5 || e.Pid != cmd.Process.Pid {
			t.Fatalf("exit %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit")
	}
}
