// Package logs reads the json-file logs the shim writes: one JSON object a
// line, {"log":"...","stream":"stdout|stderr","time":"RFC3339Nano"}.
package logs

import (
	"bufio"
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

// Read calls fn for each selected entry of the log at path, in order. A
// missing file is an empty log.
func Read(ctx context.Context, path string, o Options, fn func(Entry) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if !o.Follow {
			return nil
		}
		// The shim has not written it yet: wait for it.
		for errors.Is(err, os.ErrNotExist) {
			if stop, err := wait(ctx, &o); stop || err != nil {
				return err
			}
			f, err = os.Open(path)
		}
	}
	if err != nil {
		return fmt.Errorf("open log %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)

	var pending []byte // an incomplete last line
	decode := func(line []byte) (*Entry, bool) {
		var e Entry
		if err := json.Unmarshal(bytes.TrimSpace(line), &e); err != nil {
			return nil, false // a torn or foreign line: skip it
		}
		return &e, o.want(&e)
	}

	// The existing content, tail applied.
	var tail []Entry
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			pending = line
			break
		}
		e, ok := decode(line)
		if !ok {
			continue
		}
		if !o.Until.IsZero() && e.Time.After(o.Until) {
			break
		}
		if o.Tail < 0 {
			if err := fn(*e); err != nil {
				return err
			}
			continue
		}
		if o.Tail == 0 {
			continue
		}
		tail = append(tail, *e)
		if len(tail) > o.Tail {
			tail = tail[1:]
		}
	}
	for _, e := range tail {
		if err := fn(e); err != nil {
			return err
		}
	}
	if !o.Follow {
		return nil
	}
	for {
		line, err := r.ReadBytes('\n')
		pending = append(pending, line...)
		if err == nil {
			e, ok := decode(pending)
			pending = pending[:0]
			if !ok {
				continue
			}
			if !o.Until.IsZero() && e.Time.After(o.Until) {
				return nil
			}
			if err := fn(*e); err != nil {
				return err
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("read log %s: %w", path, err)
		}
		stop, werr := wait(ctx, &o)
		if werr != nil {
			return werr
		}
		if stop {
			// One last pass for what was written before the exit.
			o.Stopped = nil
			o.Follow = false
			for {
				line, err := r.ReadBytes('\n')
				pending = append(pending, line...)
				if err != nil {
					return nil
				}
				if e, ok := decode(pending); ok {
					if err := fn(*e); err != nil {
						return err
					}
				}
				pending = pending[:0]
			}
		}
	}
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
