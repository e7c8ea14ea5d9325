package shim

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	// attrs is the JSON object written as "attrs" into every json-file
	// record (nil: none).
	attrs json.RawMessage
}

// NewLogWriter writes records in format to out.
func NewLogWriter(format shimv1.LogFormat, out *RotatingFile) *LogWriter {
	return &LogWriter{format: format, out: out, now: time.Now}
}

// SetAttrs makes every json-file record carry attrs as "attrs", the way
// dockerd's json-file driver adds the attributes its log options select.
func (w *LogWriter) SetAttrs(attrs map[string]string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(attrs) == 0 {
		w.attrs = nil
		return nil
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return fmt.Errorf("log attrs: %w", err)
	}
	w.attrs = b
	return nil
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
	Log    string          `json:"log"`
	Stream string          `json:"stream"`
	Attrs  json.RawMessage `json:"attrs,omitempty"`
	Time   string          `json:"time"`
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
		b, err := json.Marshal(jsonRecord{Log: string(line), Stream: s.String(), Attrs: w.attrs, Time: ts})
		if err != nil {
			return err
		}
		w.buf = append(append(w.buf, b...), '\n')
	}
	return w.out.Write(w.buf)
}
