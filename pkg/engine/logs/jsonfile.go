// Package logs reads the json-file logs the shim writes: one JSON object a
// line, {"log":"...","stream":"stdout|stderr","attrs":{...},"time":"RFC3339Nano"},
// across the files of a rotated log.
package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Entry is one log line (Log keeps its trailing newline, if it had one).
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
	// Attrs are what the log options (labels, env, tag) added.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Options selects entries, as `docker logs` does.
type Options struct {
	Stdout, Stderr bool
	Since, Until   time.Time // zero: unbounded
	Tail           int       // < 0: all
	Follow         bool
	// Stopped, when Follow is set, is closed once the container has exited:
	// the reader then returns after the rest of the file.
	Stopped <-chan struct{}
	// PollInterval for Follow (default 100ms).
	PollInterval time.Duration
}

func (o *Options) want(e *Entry) bool {
	switch e.Stream {
	case "stdout":
		if !o.Stdout {
			return false
		}
	case "stderr":
		if !o.Stderr {
			return false
		}
	}
	if !o.Since.IsZero() && e.Time.Before(o.Since) {
		return false
	}
	if !o.Until.IsZero() && e.Time.After(o.Until) {
		return false
	}
	return true
}

// Read calls fn for each selected entry of the log at path, in order: its
// rotated files (PATH.N, PATH.N.gz, oldest first, see package logfile),
// then the live file. A missing log is an empty one. Following survives
// rotations: when PATH names a new file, the reader finishes the one it
// holds and finds its place again in the renamed (maybe compressed) files
// by the time of the last record it read and how many records of that
// time it had read. This relies on the writer's clock not going back.
func Read(ctx context.Context, path string, o Options, fn func(Entry) error) error {
	r := &reader{o: &o, fn: fn, collectTail: o.Tail >= 0}
	srcs, err := openLog(path)
	if err != nil {
		return err
	}
	defer func() { closeAll(srcs) }()
	start, err := r.tailStart(srcs)
	if err != nil {
		return err
	}
	var cur *source
	for _, s := range srcs[start:] {
		drain := r.drainFile
		if s.live {
			cur, drain = s, r.drain
		}
		if err := drain(s); err != nil {
			return err
		}
	}
	r.collectTail = false
	for _, e := range r.tail {
		if err := fn(e); err != nil {
			return err
		}
	}
	r.tail = nil
	if !o.Follow || r.done {
		return nil
	}
	final := false
	for {
		moved := true
		if cur != nil {
			if err := r.drain(cur); err != nil || r.done {
				return err
			}
			moved = rotated(path, cur)
			if moved {
				// The writer has moved on: what it wrote to cur before
				// that is there now.
				if err := r.drainFile(cur); err != nil || r.done {
					return err
				}
			}
		}
		if moved {
			if cur, err = r.resync(path, &srcs); err != nil || r.done {
				return err
			}
			if cur != nil {
				continue
			}
		}
		if final {
			return nil
		}
		stop, err := wait(ctx, &o)
		if err != nil || ctx.Err() != nil {
			return err
		}
		// Once the container stopped: one last pass for what was
		// written before the exit.
		final = stop
	}
}

// reader is the state of one Read.
type reader struct {
	o       *Options
	fn      func(Entry) error
	pending []byte // the live file's incomplete last line
	// pos is the place reached; skip, during a resync, the place to
	// find again (seen: records of skip.time met so far).
	pos, skip   position
	seen        int
	collectTail bool
	tail        []Entry
	done        bool // past Until
}

// position is the time of the last record read and how many records of
// that time were read.
type position struct {
	time time.Time
	same int
}

// take handles one complete line.
func (r *reader) take(line []byte) error {
	var e Entry
	if err := json.Unmarshal(bytes.TrimSpace(line), &e); err != nil {
		return nil // a torn or foreign line: skip it
	}
	if r.skip.same > 0 {
		if e.Time.Before(r.skip.time) {
			return nil
		}
		if e.Time.Equal(r.skip.time) {
			if r.seen++; r.seen <= r.skip.same {
				return nil
			}
		}
		r.skip = position{}
	}
	if e.Time.Equal(r.pos.time) {
		r.pos.same++
	} else {
		r.pos = position{time: e.Time, same: 1}
	}
	if !r.o.Until.IsZero() && e.Time.After(r.o.Until) {
		r.done = true
		return nil
	}
	if !r.o.want(&e) {
		return nil
	}
	if r.collectTail {
		if r.o.Tail == 0 {
			return nil
		}
		r.tail = append(r.tail, e)
		if len(r.tail) > r.o.Tail {
			r.tail = r.tail[1:]
		}
		return nil
	}
	return r.fn(e)
}

// drain reads s to its current end; an incomplete last line stays in
// pending.
func (r *reader) drain(s *source) error {
	for !r.done {
		line, err := s.r.ReadBytes('\n')
		r.pending = append(r.pending, line...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read log %s: %w", s.f.Name(), err)
		}
		err = r.take(r.pending)
		r.pending = r.pending[:0]
		if err != nil {
			return err
		}
	}
	return nil
}

// drainFile reads s to its end when nothing more will be written to it
// (a rotated file); an incomplete last line there is a torn record.
func (r *reader) drainFile(s *source) error {
	err := r.drain(s)
	r.pending = r.pending[:0]
	return err
}

// rotated reports whether path no longer names the file cur holds.
func rotated(path string, cur *source) bool {
	st, err := os.Stat(path)
	if err != nil {
		return true // between two files, or gone: look again under the lock
	}
	cst, err := cur.f.Stat()
	return err != nil || !os.SameFile(st, cst)
}

// resync reopens the log's files and reads what follows pos, returning
// the live file (nil when there is none yet).
func (r *reader) resync(path string, srcs *[]*source) (*source, error) {
	closeAll(*srcs)
	*srcs = nil
	n, err := openLog(path)
	if err != nil {
		return nil, err
	}
	*srcs = n
	r.pending = r.pending[:0]
	r.skip, r.seen = r.pos, 0
	var cur *source
	for _, s := range n[r.startOf(n):] {
		if s.live {
			cur = s
			err = r.drain(s)
		} else {
			err = r.drainFile(s)
		}
		if err != nil || r.done {
			return cur, err
		}
	}
	return cur, nil
}

// tailStart returns the index of the oldest file a tail needs, counting
// the selected records of the newest files first, so that a tail of a long
// rotated log does not read all of it. That file must also start before
// the newest record, so that the position a follow keeps (the count of
// records of that time) is complete.
func (r *reader) tailStart(srcs []*source) (int, error) {
	if r.o.Tail < 0 || len(srcs) < 2 {
		return 0, nil
	}
	n := 0
	var last time.Time
	for i := len(srcs) - 1; i > 0; i-- {
		s := srcs[i]
		var first, end time.Time
		for {
			line, err := s.r.ReadBytes('\n')
			if err != nil {
				if !errors.Is(err, io.EOF) {
					return 0, fmt.Errorf("read log %s: %w", s.f.Name(), err)
				}
				break
			}
			var e Entry
			if json.Unmarshal(bytes.TrimSpace(line), &e) != nil {
				continue
			}
			if first.IsZero() {
				first = e.Time
			}
			end = e.Time
			if (r.o.Until.IsZero() || !e.Time.After(r.o.Until)) && r.o.want(&e) {
				n++
			}
		}
		if err := s.rewind(); err != nil {
			return 0, err
		}
		if last.IsZero() {
			last = end
		}
		if n >= r.o.Tail && !first.IsZero() && first.Before(last) {
			return i, nil
		}
	}
	return 0, nil
}

// startOf returns the index of the newest file that starts before pos:
// no record after pos is in an older one.
func (r *reader) startOf(srcs []*source) int {
	if r.pos.same == 0 {
		return 0
	}
	for i := len(srcs) - 1; i > 0; i-- {
		line, _ := srcs[i].r.ReadBytes('\n')
		var e Entry
		ok := json.Unmarshal(bytes.TrimSpace(line), &e) == nil
		if err := srcs[i].rewind(); err != nil {
			return 0
		}
		if ok && e.Time.Before(r.pos.time) {
			return i
		}
	}
	return 0
}

// wait sleeps one poll interval; stop is true when the container stopped.
func wait(ctx context.Context, o *Options) (stop bool, err error) {
	d := o.PollInterval
	if d == 0 {
		d = 100 * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true, nil
	case <-o.Stopped:
		return true, nil
	case <-t.C:
		return false, nil
	}
}
