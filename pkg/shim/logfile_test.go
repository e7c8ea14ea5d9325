package shim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))

func newTestWriter(t *testing.T, format shimv1.LogFormat, maxSize int64, maxFiles int) (*LogWriter, string) {
	return newRotatingWriter(t, format, Rotation{MaxSize: maxSize, MaxFiles: maxFiles})
}

func newRotatingWriter(t *testing.T, format shimv1.LogFormat, rot Rotation) (*LogWriter, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "c.log")
	f, err := OpenRotatingFile(path, rot)
	if err != nil {
		t.Fatal(err)
	}
	w := NewLogWriter(format, f)
	w.now = func() time.Time { return fixedTime }
	return w, path
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestJSONFile(t *testing.T) {
	w, path := newTestWriter(t, shimv1.LogFormat_LOG_FORMAT_JSON_FILE, 0, 0)
	w.Write(Stdout, []byte("hello\nwor"))
	w.Write(Stderr, []byte("oops\n"))
	w.Write(Stdout, []byte("ld\n\"q\"\n"))
	w.Write(Stdout, []byte("tail"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"log":"hello\n","stream":"stdout","time":"2026-01-02T02:04:05.123456789Z"}`,
		`{"log":"oops\n","stream":"stderr","time":"2026-01-02T02:04:05.123456789Z"}`,
		`{"log":"world\n","stream":"stdout","time":"2026-01-02T02:04:05.123456789Z"}`,
		`{"log":"\"q\"\n","stream":"stdout","time":"2026-01-02T02:04:05.123456789Z"}`,
		`{"log":"tail","stream":"stdout","time":"2026-01-02T02:04:05.123456789Z"}`,
	}
	got := readLines(t, path)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
}

func TestCRI(t *testing.T) {
	w, path := newTestWriter(t, shimv1.LogFormat_LOG_FORMAT_CRI, 0, 0)
	w.Write(Stdout, []byte("a b\npart"))
	w.Write(Stderr, []byte("e\n"))
	w.Close()
	want := []string{
		"2026-01-02T02:04:05.123456789Z stdout F a b",
		"2026-01-02T02:04:05.123456789Z stderr F e",
		"2026-01-02T02:04:05.123456789Z stdout P part",
	}
	if got := readLines(t, path); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %q", got)
	}
}

// A line longer than maxLine is split into partial records, in one write
// or many.
func TestLongLines(t *testing.T) {
	for _, chunk := range []int{1000, maxLine + 7, 3 * maxLine} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			w, path := newTestWriter(t, shimv1.LogFormat_LOG_FORMAT_JSON_FILE, 0, 0)
			line := strings.Repeat("x", 2*maxLine+10) + "\n"
			data := []byte(line + "short\n")
			for len(data) > 0 {
				n := min(chunk, len(data))
				w.Write(Stdout, data[:n])
				data = data[n:]
			}
			w.Close()
			var logs []string
			for _, l := range readLines(t, path) {
				var rec struct{ Log string }
				if err := json.Unmarshal([]byte(l), &rec); err != nil {
					t.Fatal(err)
				}
				logs = append(logs, rec.Log)
			}
			if len(logs) != 4 || len(logs[0]) != maxLine || len(logs[1]) != maxLine ||
				logs[2] != "xxxxxxxxxx\n" || logs[3] != "short\n" {
				t.Fatalf("records: %d, lens %d", len(logs), len(logs[0]))
			}
		})
	}
}

func TestRotation(t *testing.T) {
	w, path := newTestWriter(t, shimv1.LogFormat_LOG_FORMAT_CRI, 200, 3)
	// Each record is 49 bytes: 4 fit in 200.
	for i := 0; i < 20; i++ {
		w.Write(Stdout, []byte(fmt.Sprintf("line %02d\n", i)))
	}
	w.Close()
	for _, c := range []struct {
		name  string
		first string
		n     int
	}{{"", "line 16", 4}, {".1", "line 12", 4}, {".2", "line 08", 4}} {
		lines := readLines(t, path+c.name)
		if len(lines) != c.n || !strings.HasSuffix(lines[0], c.first) {
			t.Fatalf("%s: %q", c.name, lines)
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Fatal("more files than max-files")
	}
}

func TestRotationSingleFile(t *testing.T) {
	w, path := newTestWriter(t, shimv1.LogFormat_LOG_FORMAT_CRI, 100, 1)
	for i := 0; i < 5; i++ {
		w.Write(Stdout, []byte(fmt.Sprintf("line %02d\n", i)))
	}
	w.Close()
	if lines := readLines(t, path); len(lines) != 1 || !strings.HasSuffix(lines[0], "line 04") {
		t.Fatalf("%q", lines)
	}
	if _, err := os.Stat(path + ".1"); err == nil {
		t.Fatal("rotated with max-files 1")
	}
}
