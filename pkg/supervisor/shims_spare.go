package supervisor

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/shim/client"
)

// Spare shims: a container's creation (Containers/Create, which comes
// before its snapshot is prepared) starts a shim process ahead of its
// task, and the task's creation hands it the container. The exec and Go
// start-up of the shim, most of a shim spawn, then overlap with the
// snapshot, the rest of the engine's create and the client's next
// requests, instead of being on the start path. A spare is no container's
// yet: it has no state, socket or files, and exits when its config socket
// closes (supervisord closing it, or dying).
const (
	// maxSpares bounds the spares waiting at once (a burst of creates).
	maxSpares = 4
	// spareStock: a create whose task finds no spare waiting starts one
	// for it and, while fewer than this many wait, more, so that the next
	// create's task takes one started a create earlier, whose start-up (and
	// its standby runtime's) is done; the oldest spare is taken first.
	spareStock = 2
	// spareIdle: spares nobody took by then exit (a create without a
	// start, a failed create).
	spareIdle = 10 * time.Second
	// refillDelay: a create whose task finds a spare waiting starts its
	// replacement this long after, not at once: the replacement's start-up
	// (the shim's and its standby runtime's) would otherwise take CPU from
	// the task's own create and start.
	refillDelay = 100 * time.Millisecond
)

type spareShims struct {
	mu       sync.Mutex
	spares   []*client.Spare
	starting int
	timer    *time.Timer
	refill   *time.Timer // pending refill (nil: none)
	closed   bool
}

// warm makes sure a spare of binary waits for a create's task: when one
// already does, the stock is refilled refillDelay later; else one starts
// now (fill).
func (p *spareShims) warm(binary, standbyRuntime string) {
	p.mu.Lock()
	if !p.closed && len(p.spares) > 0 {
		if p.refill == nil {
			p.refill = time.AfterFunc(refillDelay, func() {
				p.mu.Lock()
				p.refill = nil
				p.mu.Unlock()
				p.fill(binary, standbyRuntime)
			})
		}
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.fill(binary, standbyRuntime)
}

// fill starts a spare of binary unless enough are waiting, with a standby
// of standbyRuntime when not "" (client.StartSpare). A failure is not an
// error: the task's creation starts its shim itself.
func (p *spareShims) fill(binary, standbyRuntime string) {
	p.mu.Lock()
	if p.closed || binary == "" || len(p.spares)+p.starting >= maxSpares {
		p.mu.Unlock()
		return
	}
	p.starting++
	if len(p.spares)+p.starting < spareStock {
		go p.fill(binary, standbyRuntime) // the stock, off this create's path
	}
	p.mu.Unlock()
	sp, err := client.StartSpare(binary, standbyRuntime)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	if err != nil {
		return
	}
	if p.closed {
		sp.Close()
		return
	}
	p.spares = append(p.spares, sp)
	if p.timer == nil {
		p.timer = time.AfterFunc(spareIdle, p.expire)
	} else {
		p.timer.Reset(spareIdle)
	}
}

// take returns a live spare of binary, the oldest (the likeliest to be
// done starting), or nil.
func (p *spareShims) take(binary string) *client.Spare {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.spares) > 0 {
		sp := p.spares[0]
		p.spares = p.spares[1:]
		if sp.Binary() == binary && sp.Alive() {
			return sp
		}
		sp.Close()
	}
	return nil
}

// expire closes the spares nobody took.
func (p *spareShims) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sp := range p.spares {
		sp.Close()
	}
	p.spares = nil
}

func (p *spareShims) close() {
	p.mu.Lock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.refill != nil {
		p.refill.Stop()
	}
	p.mu.Unlock()
	p.expire()
}

// start starts o's shim in a spare when one is waiting, else anew.
func (p *spareShims) start(ctx context.Context, o client.StartOpts) (*client.Client, error) {
	if sp := p.take(o.ShimBinary); sp != nil {
		c, err := sp.Start(ctx, o)
		if !errors.Is(err, client.ErrSpareGone) {
			return c, err
		}
	}
	return client.Start(ctx, o)
}
