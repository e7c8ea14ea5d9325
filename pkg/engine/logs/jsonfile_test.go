package logs

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func writeLog(t *testing.T, path string, entries ...Entry) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, e := range entries {
		b, _ := json.Marshal(e)
		f.Write(append(b, '\n'))
	}
}

func collect(t *testing.T, path string, o Options) string {
	t.Helper()
	var sb strings.Builder
	err := Read(context.Background(), path, o, func(e Entry) error {
		sb.WriteString(e.Stream[3:4] + ":" + e.Log)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeLog(t, path,
		Entry{"a\n", "stdout", t0, nil},
		Entry{"b\n", "stderr", t0.Add(time.Second), nil},
		Entry{"c\n", "stdout", t0.Add(2 * time.Second), nil},
		Entry{"d\n", "stdout", t0.Add(3 * time.Second), nil},
	)
	// A torn last line (the shim was writing) is not returned.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"log":"torn`)
	f.Close()
	all := Options{Stdout: true, Stderr: true, Tail: -1}
	cases := []struct {
		name string
		o    func(o Options) Options
		want string
	}{
		{"all", func(o Options) Options { return o }, "o:a\ne:b\no:c\no:d\n"},
		{"stdout", func(o Options) Options { o.Stderr = false; return o }, "o:a\no:c\no:d\n"},
		{"stderr", func(o Options) Options { o.Stdout = false; return o }, "e:b\n"},
		{"tail 2", func(o Options) Options { o.Tail = 2; return o }, "o:c\no:d\n"},
		{"tail 0", func(o Options) Options { o.Tail = 0; return o }, ""},
		{"tail 10", func(o Options) Options { o.Tail = 10; return o }, "o:a\ne:b\no:c\no:d\n"},
		{"since", func(o Options) Options { o.Since = t0.Add(time.Second); return o }, "e:b\no:c\no:d\n"},
		{"until", func(o Options) Options { o.Until = t0.Add(time.Second); return o }, "o:a\ne:b\n"},
		{"since+until+tail", func(o Options) Options {
			o.Since, o.Until, o.Tail = t0.Add(time.Second), t0.Add(2*time.Second), 1
			return o
		}, "o:c\n"},
	}
	for _, c := range cases {
		if got := collect(t, path, c.o(all)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if got := collect(t, filepath.Join(t.TempDir(), "none"), all); got != "" {
		t.Errorf("missing file: %q", got)
	}
}

func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeLog(t, path, Entry{"first\n", "stdout", t0, nil})
	stopped := make(chan struct{})
	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), path, Options{Stdout: true, Stderr: true, Tail: -1, Follow: true, Stopped: stopped, PollInterval: 5 * time.Millisecond}, func(e Entry) error {
			got <- e.Log
			return nil
		})
	}()
	if l := <-got; l != "first\n" {
		t.Fatalf("got %q", l)
	}
	writeLog(t, path, Entry{"second\n", "stderr", t0.Add(time.Second), nil})
	if l := <-got; l != "second\n" {
		t.Fatalf("got %q", l)
	}
	// Written just before the exit: still delivered.
	writeLog(t, path, Entry{"last\n", "stdout", t0.Add(2 * time.Second), nil})
	close(stopped)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if l != "last\n" {
			t.Fatalf("got %q", l)
		}
	default:
		t.Fatal("line written before the exit was lost")
	}

	// Follow ends with the context too.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := Read(ctx, path, Options{Stdout: true, Tail: 0, Follow: true, PollInterval: 5 * time.Millisecond}, func(Entry) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
