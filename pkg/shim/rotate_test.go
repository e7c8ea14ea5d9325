package shim

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/logfile"
	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// readLog returns the lines of a log file, gunzipping .gz files.
func readLog(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, logfile.GzipSuffix) {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func logText(t *testing.T, line string) string {
	t.Helper()
	var rec struct{ Log string }
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return rec.Log
}

// Every file stays within max-size, the count within max-file, rotated
// files are gzipped, and together they hold the newest records in order.
func TestRotationCompressed(t *testing.T) {
	w, path := newRotatingWriter(t, shimv1.LogFormat_LOG_FORMAT_JSON_FILE, Rotation{MaxSize: 1024, MaxFiles: 3, Compress: true})
	for i := 0; i < 500; i++ {
		if err := w.Write(Stdout, []byte(fmt.Sprintf("line %d\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := logfile.List(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var all []string
	for _, f := range files {
		names = append(names, strings.TrimPrefix(f.Path, path))
		if !f.Compressed {
			if st, err := os.Stat(f.Path); err != nil || st.Size() > 1024 {
				t.Fatalf("%s: %v %v", f.Path, st.Size(), err)
			}
		}
		for _, l := range readLog(t, f.Path) {
			all = append(all, logText(t, l))
		}
	}
	if strings.Join(names, " ") != ".2.gz .1.gz " {
		t.Fatalf("files %q", names)
	}
	if left, _ := os.ReadDir(strings.TrimSuffix(path, "/c.log")); len(left) != 3 {
		t.Fatalf("%d entries in the log directory (temp files left?)", len(left))
	}
	// Consecutive and ending at the last line.
	last := len(all) - 1
	for i, l := range all {
		if want := fmt.Sprintf("line %d\n", 499-last+i); l != want {
			t.Fatalf("record %d: %q, want %q", i, l, want)
		}
	}
	if len(all) < 30 {
		t.Fatalf("only %d records kept", len(all))
	}
}

func TestRotationCompressNeedsFiles(t *testing.T) {
	for _, rot := range []Rotation{{MaxSize: 100, MaxFiles: 1, Compress: true}, {MaxFiles: 3, Compress: true}} {
		_, err := OpenRotatingFile(t.TempDir()+"/c.log", rot)
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("%+v: %v", rot, err)
		}
	}
}

// A reader that opened the live file before a rotation reads it to its
// end: the writer moves it aside instead of truncating it.
func TestRotationKeepsOpenReaders(t *testing.T) {
	for _, files := range []int{1, 2} {
		t.Run(fmt.Sprint(files), func(t *testing.T) {
			w, path := newTestWriter(t, shimv1.LogFormat_LOG_FORMAT_JSON_FILE, 200, files)
			w.Write(Stdout, []byte("first\n"))
			r, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for i := 0; i < 10; i++ {
				w.Write(Stdout, []byte(fmt.Sprintf("line %d\n", i)))
			}
			w.Close()
			b, _ := io.ReadAll(r)
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if logText(t, lines[0]) != "first\n" || len(lines) < 2 || len(b) > 200 {
				t.Fatalf("%q", lines)
			}
		})
	}
}

func TestJSONFileAttrs(t *testing.T) {
	w, path := newTestWriter(t, shimv1.LogFormat_LOG_FORMAT_JSON_FILE, 0, 0)
	if err := w.SetAttrs(map[string]string{"tag": "web", "a": "\"x\""}); err != nil {
		t.Fatal(err)
	}
	w.Write(Stdout, []byte("hi\n"))
	w.Close()
	want := `{"log":"hi\n","stream":"stdout","attrs":{"a":"\"x\"","tag":"web"},"time":"2026-01-02T02:04:05.123456789Z"}`
	if got := readLines(t, path); len(got) != 1 || got[0] != want {
		t.Fatalf("got %q", got)
	}
}
