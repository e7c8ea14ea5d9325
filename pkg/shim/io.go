package shim

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// chunkSize is the read size of the output pipes.
	chunkSize = 32 << 10
	// attachQueue is how many chunks an attacher may fall behind before it
	// is dropped; it bounds an attacher's memory to attachQueue*chunkSize.
	attachQueue = 64
)

// attacher is one live Attach stream.
type attacher struct {
	streams [2]bool
	ch      chan chunk
	dropped bool // set before ch is closed when it fell behind
}

type chunk struct {
	stream Stream
	data   []byte
}

// containerIO owns the shim's ends of the container's stdio pipes. It
// copies stdout and stderr to the log and to every attacher until both
// pipes reach EOF.
type containerIO struct {
	// Given to the runtime (and so the container); closed in the shim
	// once the runtime has started.
	stdin, stdout, stderr *os.File
	// The shim's ends.
	stdinW   *os.File
	readers  [2]*os.File // readers[Stderr] is nil in terminal mode
	terminal bool        // stdinW and readers[Stdout] are the pty master
	stdinMu  sync.Mutex
	log      *LogWriter // nil for LogFormat NONE
	mu       sync.Mutex
	attached map[*attacher]struct{}
	drained  bool
	wg       sync.WaitGroup
	done     chan struct{} // closed when both copy loops ended
}

func newContainerIO(withStdin bool, lw *LogWriter) (_ *containerIO, err error) {
	cio := &containerIO{log: lw, attached: map[*attacher]struct{}{}, done: make(chan struct{})}
	defer func() {
		if err != nil {
			cio.closeAll()
		}
	}()
	if withStdin {
		if cio.stdin, cio.stdinW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("stdin pipe: %w", err)
		}
	} else if cio.stdin, err = os.Open(os.DevNull); err != nil {
		return nil, err
	}
	if cio.readers[Stdout], cio.stdout, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	if cio.readers[Stderr], cio.stderr, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	return cio, nil
}

// newTerminalIO wraps the pty master received from the runtime: output
// is read from it (as stdout) and stdin is written to it.
func newTerminalIO(master *os.File, lw *LogWriter) *containerIO {
	return &containerIO{
		log: lw, attached: map[*attacher]struct{}{}, done: make(chan struct{}),
		stdinW: master, readers: [2]*os.File{master, nil}, terminal: true,
	}
}

// start begins copying; call it once the runtime holds the container's ends.
func (c *containerIO) start() {
	c.closeContainerEnds()
	for s := Stdout; s <= Stderr; s++ {
		if c.readers[s] == nil {
			continue
		}
		c.wg.Add(1)
		go c.copy(s)
	}
	go func() {
		c.wg.Wait()
		c.mu.Lock()
		c.drained = true
		for a := range c.attached {
			close(a.ch)
			delete(c.attached, a)
		}
		c.mu.Unlock()
		if c.log != nil {
			if err := c.log.Close(); err != nil {
				log.Printf("close container log: %v", err)
			}
		}
		close(c.done)
	}()
}

// finish ends the attachers of an io that never started (an exec that
// failed or was deleted before Start).
func (c *containerIO) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drained {
		return
	}
	c.drained = true
	for a := range c.attached {
		close(a.ch)
		delete(c.attached, a)
	}
	close(c.done)
}

func (c *containerIO) copy(s Stream) {
	defer c.wg.Done()
	r := c.readers[s]
	buf := make([]byte, chunkSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			c.deliver(s, buf[:n])
		}
		if err != nil {
			// A pty master reads EIO once the last slave fd is closed.
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) && !errors.Is(err, syscall.EIO) {
				log.Printf("read container %s: %v", s, err)
			}
			r.Close()
			return
		}
	}
}

func (c *containerIO) deliver(s Stream, data []byte) {
	if c.log != nil {
		if err := c.log.Write(s, data); err != nil {
			log.Printf("write container log: %v", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var shared []byte // one copy of data for all attachers
	for a := range c.attached {
		if !a.streams[s] {
			continue
		}
		if shared == nil {
			shared = append([]byte(nil), data...)
		}
		select {
		case a.ch <- chunk{stream: s, data: shared}:
		default:
			// A slow attacher never blocks the container.
			a.dropped = true
			close(a.ch)
			delete(c.attached, a)
		}
	}
}

// attach registers an attacher; it returns nil when the output is
// already drained.
func (c *containerIO) attach(stdout, stderr bool) *attacher {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drained {
		return nil
	}
	a := &attacher{streams: [2]bool{stdout, stderr}, ch: make(chan chunk, attachQueue)}
	c.attached[a] = struct{}{}
	return a
}

func (c *containerIO) detach(a *attacher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.attached[a]; ok {
		delete(c.attached, a)
		close(a.ch)
	}
}

// drain waits for both pipes to reach EOF, at most grace long: a daemon
// the container left behind may hold them open forever. Then it stops the
// copy loops, and the log is flushed and closed.
func (c *containerIO) drain(grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		return
	case <-t.C:
	}
	log.Printf("output pipes still open %v after exit; closing them", grace)
	for _, r := range c.readers {
		if r != nil {
			r.Close()
		}
	}
	<-c.done
}

func (c *containerIO) closeContainerEnds() {
	for _, f := range []*os.File{c.stdin, c.stdout, c.stderr} {
		if f != nil {
			f.Close()
		}
	}
}

// closeAll releases everything when the container could not be created.
func (c *containerIO) closeAll() {
	c.closeContainerEnds()
	files := []*os.File{c.readers[0], c.readers[1]}
	if !c.terminal {
		files = append(files, c.stdinW)
	}
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
	if c.log != nil {
		c.log.Close()
	}
}

// errNoStdin is returned by writeStdin when the container has no stdin.
var errNoStdin = errors.New("container has no stdin")

// writeStdin writes p to the container's stdin.
func (c *containerIO) writeStdin(p []byte) error {
	c.stdinMu.Lock()
	defer c.stdinMu.Unlock()
	if c.stdinW == nil {
		return errNoStdin
	}
	_, err := c.stdinW.Write(p)
	return err
}

// closeStdin closes the shim's end of the stdin pipe; on a pty, where the
// master also carries the output, it sends EOF (^D) instead.
func (c *containerIO) closeStdin() {
	c.stdinMu.Lock()
	defer c.stdinMu.Unlock()
	if c.stdinW == nil {
		return
	}
	if c.terminal {
		_, _ = c.stdinW.Write([]byte{4})
	} else {
		c.stdinW.Close()
	}
	c.stdinW = nil
}

// dropStdin forgets stdin when the container has exited: a pipe is
// closed, a pty master is left to the output side.
func (c *containerIO) dropStdin() {
	c.stdinMu.Lock()
	defer c.stdinMu.Unlock()
	if c.stdinW != nil && !c.terminal {
		c.stdinW.Close()
	}
	c.stdinW = nil
}

// resize sets the pty's window size.
func (c *containerIO) resize(width, height uint16) error {
	if !c.terminal {
		return errors.New("container has no terminal")
	}
	rc, err := c.readers[Stdout].SyscallConn()
	if err != nil {
		return err
	}
	var ioctlErr error
	err = rc.Control(func(fd uintptr) {
		ioctlErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: height, Col: width})
	})
	if err != nil {
		return err
	}
	return ioctlErr
}
