package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berthd/berth/pkg/errdefs"
)

// DefaultDetachKeys is docker's ctrl-p ctrl-q.
var DefaultDetachKeys = []byte{16, 17}

// ParseDetachKeys reads docker's detach key syntax: a comma-separated list
// of single characters or ctrl-<c> ("ctrl-p,ctrl-q"; "" is the default).
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return DefaultDetachKeys, nil
	}
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		if c, ok := strings.CutPrefix(strings.ToLower(k), "ctrl-"); ok && len(c) == 1 {
			switch ch := c[0]; {
			case ch >= 'a' && ch <= 'z':
				keys = append(keys, ch-'a'+1)
			case ch == '@':
				keys = append(keys, 0)
			case ch >= '[' && ch <= '_':
				keys = append(keys, ch-'['+27)
			default:
				return nil, fmt.Errorf("invalid detach keys (%s): %w", s, errdefs.ErrInvalidArgument)
			}
			continue
		}
		if len(k) != 1 {
			return nil, fmt.Errorf("invalid detach keys (%s): %w", s, errdefs.ErrInvalidArgument)
		}
		keys = append(keys, k[0])
	}
	return keys, nil
}

// errDetached ends a stdin copy at the detach sequence.
var errDetached = errors.New("detached")

// detachReader passes input through, holding back a partial match of the
// detach sequence, and returns errDetached once it is complete; a partial
// match that breaks off is passed on.
type detachReader struct {
	r       io.Reader
	keys    []byte
	matched int
	out     []byte
}

func (d *detachReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		buf := make([]byte, len(p))
		n, err := d.r.Read(buf)
		for _, b := range buf[:n] {
			if b == d.keys[d.matched] {
				d.matched++
				if d.matched == len(d.keys) {
					return copy(p, d.out), errDetached
				}
				continue
			}
			d.out = append(d.out, d.keys[:d.matched]...)
			d.matched = 0
			if b == d.keys[0] {
				d.matched = 1
				continue
			}
			d.out = append(d.out, b)
		}
		if err != nil {
			if len(d.out) == 0 {
				return 0, err
			}
			break
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// pipeStdin copies r to the process's stdin until r ends, then closes
// stdin (closeAtEOF) or only detaches. At the detach keys (a tty session)
// it detaches and calls detach, which ends the attach.
func (d *Daemon) pipeStdin(ctx context.Context, id, execID string, r io.Reader, closeAtEOF bool, keys []byte, detach func()) {
	in, err := d.sup.OpenStdin(ctx, id, execID)
	if err != nil {
		d.log.Warn("open stdin", "id", id, "exec", execID, "err", err)
		return
	}
	if len(keys) > 0 {
		r = &detachReader{r: r, keys: keys}
	}
	_, err = io.Copy(in, r)
	switch {
	case errors.Is(err, errDetached):
		_ = in.Detach()
		detach()
	case err == nil && closeAtEOF:
		if cerr := in.Close(); cerr != nil && ctx.Err() == nil {
			d.log.Warn("close stdin", "id", id, "exec", execID, "err", cerr)
		}
	default:
		_ = in.Detach()
	}
}
