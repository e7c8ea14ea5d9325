package procinfo

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// A fake /proc: a comm with spaces and parentheses, a known start and CPU
// time, a zombie without a command line.
func fakeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n")
	// Fields 3..22: state ppid pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime stime cutime cstime priority nice
	// num_threads itrealvalue starttime.
	write("42/stat", "42 (my (odd) cmd) S 7 42 42 34816 42 0 0 0 0 0 150 50 0 0 20 0 1 0 12345 1000 10\n")
	write("42/status", "Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t0\t0\t0\t0\n")
	write("42/cmdline", "sleep\x00100\x00")
	write("43/stat", "43 (sh) Z 42 42 42 0 42 0 0 0 0 0 1 0 0 0 20 0 1 0 200 0 0\n")
	write("43/status", "Name:\tsh\nUid:\t0\t0\t0\t0\n")
	write("43/cmdline", "")
	write("44/stat", "44 (bad) S\n")
	return root
}

func TestFill(t *testing.T) {
	r, err := newAt(fakeProc(t))
	if err != nil {
		t.Fatal(err)
	}
	p := &shimv1.ProcessInfo{Pid: 42, ExecId: "e1"}
	if err := r.Fill(p); err != nil {
		t.Fatal(err)
	}
	want := time.Unix(1700000000, 0).Add(123450 * time.Millisecond).UnixNano()
	if p.Comm != "my (odd) cmd" || p.Ppid != 7 || p.Tty != 34816 || p.Uid != 1000 ||
		p.CpuNs != 2e9 || p.StartedAt != want || !slices.Equal(p.Args, []string{"sleep", "100"}) || p.ExecId != "e1" {
		t.Errorf("got %+v (start want %d)", p, want)
	}
	z := &shimv1.ProcessInfo{Pid: 43}
	if err := r.Fill(z); err != nil {
		t.Fatal(err)
	}
	if z.Comm != "sh" || len(z.Args) != 0 || z.Uid != 0 || z.Ppid != 42 {
		t.Errorf("zombie: %+v", z)
	}
	if err := r.Fill(&shimv1.ProcessInfo{Pid: 99}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("gone process: %v, want not found", err)
	}
	if err := r.Fill(&shimv1.ProcessInfo{Pid: 44}); err == nil || errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("short stat: %v, want a parse error", err)
	}
}

func TestNoBootTime(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "stat"), []byte("cpu 1 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := newAt(root); err == nil {
		t.Error("a /proc/stat without btime was accepted")
	}
}

// The test's own process, from the real /proc.
func TestFillSelf(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	p := &shimv1.ProcessInfo{Pid: uint32(os.Getpid())}
	if err := r.Fill(p); err != nil {
		t.Fatal(err)
	}
	started := time.Unix(0, p.StartedAt)
	if p.Ppid != uint32(os.Getppid()) || p.Uid != uint32(os.Getuid()) || len(p.Args) == 0 || p.Args[0] != os.Args[0] ||
		time.Since(started) < 0 || time.Since(started) > time.Hour {
		t.Errorf("self: %+v (started %v)", p, started)
	}
}
