package shim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	shimv1 "github.com/berthd/berth/proto/berth/shim/v1"
)

// Stream indexes stdout and stderr.
type Stream int

const (
	Stdout Stream = iota
	Stderr
)

func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// maxLine is the longest line kept in memory: a line without a newline
// is written as a partial record once this much of it is buffered.
const maxLine = 16 << 10

// LogWriter turns the container's output into log records, one per line,
// in Docker's json-file or the CRI format. Lines longer than maxLine and
// the unterminated tail at EOF are written as partial records: json-file
// leaves out the "\n", CRI tags them "P". Safe for concurrent use.
type LogWriter struct {
	mu      sync.Mutex
	format  shimv1.LogFormat
	out     *RotatingFile
	partial [2][]byte
	buf     []byte
	now     func() time.Time
}

// NewLogWriter writes records in format to out.
func NewLogWriter(format shimv1.LogFormat, out *RotatingFile) *LogWriter {
	return &LogWriter{format: format, out: out, now: time.Now}
}

// Write logs p, a chunk of stream's output.
func (w *LogWriter) Write(s Stream, p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		room := maxLine - len(w.partial[s])
		if i >= 0 && i < room {
			line := p[:i+1]
			p = p[i+1:]
			if len(w.partial[s]) > 0 {
				line = append(w.partial[s], line...)
				w.partial[s] = w.partial[s][:0]
			}
			keep(w.emit(s, line, true))
			continue
		}
		if len(p) < room {
			w.partial[s] = append(w.partial[s], p...)
			return firstErr
		}
		w.partial[s] = append(w.partial[s], p[:room]...)
		p = p[room:]
		keep(w.emit(s, w.partial[s], false))
		w.partial[s] = w.partial[s][:0]
	}
	return firstErr
}

// Flush writes what is buffered of unterminated lines as partial records.
func (w *LogWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var firstErr error
	for s := Stdout; s <= Stderr; s++ {
		if len(w.partial[s]) == 0 {
			continue
		}
		if err := w.emit(s, w.partial[s], false); err != nil && firstErr == nil {
			firstErr = err
		}
		w.partial[s] = w.partial[s][:0]
	}
	return firstErr
}

// Close flushes and closes the file.
func (w *LogWriter) Close() error {
	err := w.Flush()
	if cerr := w.out.Close(); err == nil {
		err = cerr
	}
	return err
}

type jsonRecord struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

// emit writes one record; line ends with "\n" when complete.
func (w *LogWriter) emit(s Stream, line []byte, complete bool) error {
	ts := w.now().UTC().Format(time.RFC3339Nano)
	w.buf = w.buf[:0]
	switch w.format {
	case shimv1.LogFormat_LOG_FORMAT_CRI:
		tag := "P"
		if complete {
			tag = "F"
			line = line[:len(line)-1]
		}
		w.buf = fmt.Appendf(w.buf, "%s %s %s ", ts, s, tag)
		w.buf = append(w.buf, line...)
		w.buf = append(w.buf, '\n')
	default:
		b, err := json.Marshal(jsonRecord{Log: string(line), Stream: s.String(), Time: ts})
		if err != nil {
			return err
		}
		w.buf = append(append(w.buf, b...), '\n')
	}
	return w.out.Write(w.buf)
}

// RotatingFile is a log file that is rotated to path.1, path.2 ... when a
// write would make it larger than maxSize. maxFiles counts the live file
// too; with maxFiles <= 1 the file is truncated instead. A record is never
// split across files.
type RotatingFile struct {
	path     string
	f        *os.File
	size     int64
	maxSize  int64
	maxFiles int
}

// OpenRotatingFile opens (creating it 0640, and its directory) path for
// appending. maxSize 0 means no rotation.
func OpenRotatingFile(path string, maxSize int64, maxFiles int) (*RotatingFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat log file: %w", err)
	}
	return &RotatingFile{path: path, f: f, size: st.Size(), maxSize: maxSize, maxFiles: maxFiles}, nil
}

// Write appends one record.
func (r *RotatingFile) Write(p []byte) error {
	if r.maxSize > 0 && r.size > 0 && r.size+int64(len(p)) > r.maxSize {
		if err := r.rotate(); err != nil {
			return err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	if err != nil {
		return fmt.Errorf("write log %s: %w", r.path, err)
	}
	return nil
}

func (r *RotatingFile) rotate() error {
	if r.maxFiles <= 1 {
		if err := r.f.Truncate(0); err != nil {
			return fmt.Errorf("truncate log %s: %w", r.path, err)
		}
		r.size = 0
		return nil
	}
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("close log %s: %w", r.path, err)
	}
	for i := r.maxFiles - 1; i > 1; i-- {
		from := fmt.Sprintf("%s.%d", r.path, i-1)
		if err := os.Rename(from, fmt.Sprintf("%s.%d", r.path, i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	r.f, r.size = f, 0
	return nil
}

// Close closes the file.
func (r *RotatingFile) Close() error { return r.f.Close() }
