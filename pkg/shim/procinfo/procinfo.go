// Package procinfo reads what ps shows of a container's processes from the
// host's /proc, for the container's shim: the only layer that reads them
// (engined formats `top` from the shim's answer through the supervisor).
package procinfo

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// Reader reads processes against one boot time.
type Reader struct {
	proc string // "/proc", or a test's copy
	boot time.Time
}

// New reads the host's boot time, the origin of every start time.
func New() (*Reader, error) { return newAt("/proc") }

func newAt(proc string) (*Reader, error) {
	f, err := os.Open(proc + "/stat")
	if err != nil {
		return nil, fmt.Errorf("boot time: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("boot time %q: %w", v, err)
			}
			return &Reader{proc: proc, boot: time.Unix(n, 0)}, nil
		}
	}
	return nil, fmt.Errorf("boot time: no btime in %s/stat", proc)
}

// Fill adds what ps shows of p.Pid to p. A process that is gone is
// ErrNotFound: it exited since it was listed.
func (r *Reader) Fill(p *shimv1.ProcessInfo) error {
	dir := fmt.Sprintf("%s/%d", r.proc, p.Pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return fmt.Errorf("process %d: %v: %w", p.Pid, err, errdefs.ErrNotFound)
	}
	// comm may hold spaces and parentheses: the fields start after the
	// last ')'.
	s := string(stat)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return fmt.Errorf("parse %s/stat: no comm", dir)
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3, the state
	if len(f) < 20 {
		return fmt.Errorf("parse %s/stat: %d fields", dir, len(f)+2)
	}
	field := func(n int) (uint64, error) { return strconv.ParseUint(f[n-3], 10, 64) }
	var vals [5]uint64
	for i, n := range []int{4, 7, 14, 15, 22} { // ppid, tty_nr, utime, stime, starttime
		if vals[i], err = field(n); err != nil {
			return fmt.Errorf("parse %s/stat field %d: %w", dir, n, err)
		}
	}
	p.Comm = s[open+1 : end]
	p.Ppid = uint32(vals[0])
	p.Tty = vals[1]
	p.CpuNs = (vals[2] + vals[3]) * uint64(time.Second/clockTicks)
	p.StartedAt = r.boot.Add(time.Duration(vals[4]) * time.Second / clockTicks).UnixNano()

	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return fmt.Errorf("process %d: %v: %w", p.Pid, err, errdefs.ErrNotFound)
	}
	uid, err := realUID(status)
	if err != nil {
		return fmt.Errorf("parse %s/status: %w", dir, err)
	}
	p.Uid = uid
	// A zombie's or kernel thread's cmdline is empty, and a process may
	// exit between the reads: both leave args empty, as ps shows comm then.
	if cl, err := os.ReadFile(dir + "/cmdline"); err == nil && len(cl) > 0 {
		p.Args = strings.Split(string(bytes.TrimRight(cl, "\x00")), "\x00")
	}
	return nil
}

func realUID(status []byte) (uint32, error) {
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:"); ok {
			fs := strings.Fields(v)
			if len(fs) == 0 {
				break
			}
			n, err := strconv.ParseUint(fs[0], 10, 32)
			return uint32(n), err
		}
	}
	return 0, fmt.Errorf("no Uid line")
}
