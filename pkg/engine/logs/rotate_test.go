package logs

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/logfile"
	"github.com/berthd/berth/pkg/shim"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

func writeGz(t *testing.T, path string, entries ...Entry) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	for _, e := range entries {
		b, _ := json.Marshal(e)
		zw.Write(append(b, '\n'))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// A rotated log is read oldest file first, compressed or not, with tail,
// since and until applied across the files.
func TestReadRotated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	writeGz(t, path+".3.gz", Entry{"a\n", "stdout", at(0), nil}, Entry{"b\n", "stdout", at(1), nil})
	writeGz(t, path+".2.gz", Entry{"c\n", "stderr", at(2), nil})
	writeLog(t, path+".1", Entry{"d\n", "stdout", at(3), nil}, Entry{"e\n", "stdout", at(4), nil})
	// A compression under way: the plain file wins, the .tmp is ignored.
	os.WriteFile(path+".1.gz.tmp", []byte("partial"), 0o600)
	writeLog(t, path, Entry{"f\n", "stdout", at(5), map[string]string{"tag": "x"}})
	all := Options{Stdout: true, Stderr: true, Tail: -1}
	for _, c := range []struct {
		name string
		o    func(o Options) Options
		want string
	}{
		{"all", func(o Options) Options { return o }, "o:a\no:b\ne:c\no:d\no:e\no:f\n"},
		{"tail 3", func(o Options) Options { o.Tail = 3; return o }, "o:d\no:e\no:f\n"},
		{"since until", func(o Options) Options { o.Since, o.Until = at(1), at(3); return o }, "o:b\ne:c\no:d\n"},
		{"stderr", func(o Options) Options { o.Stdout = false; return o }, "e:c\n"},
	} {
		if got := collect(t, path, c.o(all)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	var attrs map[string]string
	Read(context.Background(), path, Options{Stdout: true, Tail: 1}, func(e Entry) error { attrs = e.Attrs; return nil })
	if attrs["tag"] != "x" {
		t.Errorf("attrs %v", attrs)
	}
}

// follower follows the log at path and sends what it reads to the
// returned channel, which is closed when Read returns.
func follower(t *testing.T, path string, stopped chan struct{}) (<-chan string, <-chan error) {
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		defer close(got)
		done <- Read(context.Background(), path, Options{Stdout: true, Stderr: true, Tail: -1, Follow: true, Stopped: stopped, PollInterval: time.Millisecond}, func(e Entry) error {
			got <- e.Log
			return nil
		})
	}()
	return got, done
}

// Records of one time on both sides of a rotation are neither lost nor
// repeated: the reader counts how many of that time it has read.
func TestFollowRotationSameTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeLog(t, path, Entry{"a\n", "stdout", t0, nil}, Entry{"b\n", "stdout", t0, nil})
	stopped := make(chan struct{})
	got, done := follower(t, path, stopped)
	for _, want := range []string{"a\n", "b\n"} {
		if l := <-got; l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	unlock, err := logfile.Lock(path, true)
	if err != nil {
		t.Fatal(err)
	}
	// More of the same time in the file being rotated, and in the new one.
	writeLog(t, path, Entry{"c\n", "stdout", t0, nil})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeLog(t, path, Entry{"d\n", "stdout", t0, nil}, Entry{"e\n", "stdout", t0.Add(time.Second), nil})
	unlock()
	for _, want := range []string{"c\n", "d\n", "e\n"} {
		if l := <-got; l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	close(stopped)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l, ok := <-got; ok {
		t.Fatalf("repeated %q", l)
	}
}

// A follower keeps every line, once and in order, while the shim's writer
// rotates (and compresses) the log under it many times.
func TestFollowAcrossShimRotations(t *testing.T) {
	for _, rot := range []shim.Rotation{{MaxSize: 512, MaxFiles: 3, Compress: true}, {MaxSize: 512, MaxFiles: 2}, {MaxSize: 512, MaxFiles: 1}} {
		t.Run(fmt.Sprintf("%+v", rot), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c-json.log")
			f, err := shim.OpenRotatingFile(path, rot)
			if err != nil {
				t.Fatal(err)
			}
			w := shim.NewLogWriter(shimv1.LogFormat_LOG_FORMAT_JSON_FILE, f)
			stopped := make(chan struct{})
			got, done := follower(t, path, stopped)
			const n, lag = 400, 3
			var read []string
			for i := 0; i < n; i++ {
				// The writer stays a few lines ahead of the reader, less
				// than a file, so nothing is rotated away unread.
				for len(read) < i-lag {
					read = append(read, <-got)
				}
				if err := w.Write(shim.Stdout, []byte(fmt.Sprintf("line %d\n", i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			close(stopped)
			for l := range got {
				read = append(read, l)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if len(read) != n {
				t.Fatalf("read %d lines, want %d: %q", len(read), n, strings.Join(read, ""))
			}
			for i, l := range read {
				if l != fmt.Sprintf("line %d\n", i) {
					t.Fatalf("line %d: %q", i, l)
				}
			}
			files, _ := logfile.List(path)
			if len(files) != rot.MaxFiles {
				t.Fatalf("%d files: %+v", len(files), files)
			}
		})
	}
}

// A tail reads only the newest files it needs: an older file that cannot
// be read (here a gzip whose body is corrupt) does not matter to it.
func TestTailReadsNewestFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	writeGz(t, path+".2.gz", Entry{"old\n", "stdout", at(0), nil})
	b, _ := os.ReadFile(path + ".2.gz")
	for i := 10; i < len(b)-8; i++ {
		b[i] ^= 0xff
	}
	os.WriteFile(path+".2.gz", b, 0o600)
	writeLog(t, path+".1", Entry{"a\n", "stdout", at(1), nil}, Entry{"b\n", "stderr", at(2), nil})
	writeLog(t, path, Entry{"c\n", "stdout", at(3), nil}, Entry{"d\n", "stdout", at(4), nil})
	all := Options{Stdout: true, Stderr: true, Tail: -1}
	for _, c := range []struct {
		name string
		o    func(o Options) Options
		want string
	}{
		{"tail 2", func(o Options) Options { o.Tail = 2; return o }, "o:c\no:d\n"},
		{"tail 0", func(o Options) Options { o.Tail = 0; return o }, ""},
		{"tail 3", func(o Options) Options { o.Tail = 3; return o }, "e:b\no:c\no:d\n"},
		{"stderr tail 1", func(o Options) Options { o.Stdout, o.Tail = false, 1; return o }, "e:b\n"},
		{"until tail 1", func(o Options) Options { o.Until, o.Tail = at(2), 1; return o }, "e:b\n"},
	} {
		if got := collect(t, path, c.o(all)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// Reading all of it does meet the corrupt file.
	if err := Read(context.Background(), path, all, func(Entry) error { return nil }); err == nil {
		t.Error("corrupt file not read")
	}
}
