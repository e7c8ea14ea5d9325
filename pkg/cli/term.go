package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"golang.org/x/term"
)

// terminal is ctl's stdin when it is a terminal.
type terminal struct {
	fd    int
	saved *term.State
}

func terminalOf(r io.Reader) *terminal {
	f, ok := r.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &terminal{fd: int(f.Fd())}
}

// makeRaw puts the terminal in raw mode (cfmakeraw's), so that every key,
// ctrl-c and the detach keys included, goes to the container's pty, which
// does the line editing and signals.
func (t *terminal) makeRaw() error {
	saved, err := term.MakeRaw(t.fd)
	if err != nil {
		return err
	}
	t.saved = saved
	return nil
}

func (t *terminal) restore() {
	if t.saved != nil {
		_ = term.Restore(t.fd, t.saved)
	}
}

func (t *terminal) size() (height, width uint, ok bool) {
	w, h, err := term.GetSize(t.fd)
	if err != nil || w <= 0 || h <= 0 {
		return 0, 0, false
	}
	return uint(h), uint(w), true
}

// monitorSize sends the terminal's size now (retrying while the process
// is being started) and at every SIGWINCH, until the returned func is called.
func (t *terminal) monitorSize(ctx context.Context, resize func(ctx context.Context, h, w uint) error) func() {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	go func() {
		if h, w, ok := t.size(); ok {
			for i := 0; i < 10; i++ {
				if resize(ctx, h, w) == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(time.Duration(i+1) * 10 * time.Millisecond)
			}
		}
		for {
			select {
			case <-ch:
				if h, w, ok := t.size(); ok {
					_ = resize(ctx, h, w)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		cancel()
	}
}

// session wires ctl's streams to a hijacked attach or exec: input to the
// connection (half-closed at its end), output back, demultiplexed unless
// tty. It returns once the output ends.
type session struct {
	c     *CLI
	conn  client.HijackedResponse
	tty   bool
	stdin bool
}

func (s *session) outputDone() <-chan error {
	done := make(chan error, 1)
	go func() {
		var err error
		if s.tty {
			_, err = io.Copy(s.c.Out, s.conn.Reader)
		} else {
			_, err = stdcopy.StdCopy(s.c.Out, s.c.Err, s.conn.Reader)
		}
		done <- err
	}()
	if s.stdin && s.c.In != nil {
		go func() {
			_, err := io.Copy(s.conn.Conn, s.c.In)
			if err == nil || errors.Is(err, io.EOF) {
				_ = s.conn.CloseWrite()
			}
		}()
	}
	return done
}

// consoleSize is the size of w's terminal, [0 0] when w is none: docker
// sends it with the create so that a tty starts at the right size.
func consoleSize(w io.Writer) [2]uint {
	f, ok := w.(*os.File)
	if !ok {
		return [2]uint{}
	}
	w2, h, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return [2]uint{}
	}
	return [2]uint{uint(h), uint(w2)}
}
