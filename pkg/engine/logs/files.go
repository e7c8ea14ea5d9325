package logs

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/berthd/berth/pkg/logfile"
)

// source is one opened file of a log: a rotated one (maybe gzipped) or
// the live one.
type source struct {
	f    *os.File
	gz   bool
	live bool
	r    *bufio.Reader
}

func (s *source) rewind() error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read log %s: %w", s.f.Name(), err)
	}
	var r io.Reader = s.f
	if s.gz {
		zr, err := gzip.NewReader(s.f)
		if errors.Is(err, io.EOF) {
			r = eofReader{}
		} else if err != nil {
			return fmt.Errorf("read log %s: %w", s.f.Name(), err)
		} else {
			r = zr
		}
	}
	if s.r == nil {
		s.r = bufio.NewReaderSize(r, 64<<10)
	} else {
		s.r.Reset(r)
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func closeAll(srcs []*source) {
	for _, s := range srcs {
		s.f.Close()
	}
}

// openLog opens every file of the log at path, oldest first, under the
// log's shared lock, so that no rotation happens between two opens (see
// package logfile). The live file, when it exists, is the last.
func openLog(path string) (_ []*source, retErr error) {
	unlock, err := logfile.Lock(path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no directory yet: no log yet
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	files, err := logfile.List(path)
	if err != nil {
		return nil, err
	}
	var srcs []*source
	defer func() {
		if retErr != nil {
			closeAll(srcs)
		}
	}()
	for _, lf := range files {
		f, err := os.Open(lf.Path)
		if err != nil {
			return nil, fmt.Errorf("open log: %w", err)
		}
		s := &source{f: f, gz: lf.Compressed, live: lf.Index == 0}
		srcs = append(srcs, s)
		if err := s.rewind(); err != nil {
			return nil, err
		}
	}
	return srcs, nil
}
