package containers

import (
	"context"
	"time"

	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/trace"
)

// autoRemoveForgotten is the failpoint after a --rm container is forgotten
// and before the supervisor's part of its removal.
const autoRemoveForgotten = "autoremove-forgotten"

// autoRemove removes a --rm container after its exit has been reported.
// The engine forgets it at once (its record, name, network lease, /dev/shm
// and anonymous volumes), which answers the clients waiting for the
// "removed" condition, as `run --rm` does; the supervisor's part (the task
// with its shim and runtime delete, the container with its snapshot) goes
// on in the background, off the path of the run, and AutoRemoveDelay
// later: off the client's exit too. A crash in between leaves a
// supervisor container the engine has no record of, which reconcile
// removes at the next start; a failure is logged and left to the same
// reconcile. A collection of unreferenced content first waits for these
// removals (AwaitAutoRemovals): `run --rm` then `rmi` frees the layers.
func (d *Daemon) autoRemove(ctx context.Context, c *Container) {
	name, _, ok := d.markRemoving(c)
	if !ok {
		return // a rm -f is removing it
	}
	// The removal is listed before forget answers the waits for
	// "removed": a client's next call (rmi, prune) then finds it under way.
	done := make(chan struct{})
	d.mu.Lock()
	d.removals[c.ID] = done
	d.mu.Unlock()
	unlist := func() {
		d.mu.Lock()
		delete(d.removals, c.ID)
		d.mu.Unlock()
		close(done)
	}
	end := trace.Begin(ctx, "remove (engine)")
	err := d.forget(c, name)
	end()
	if err != nil {
		// Still listed: a later rm retries the whole removal.
		unlist()
		d.log.Error("autoremove", "id", c.ID, "err", err)
		return
	}
	failpoint.Hit(autoRemoveForgotten)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer unlist()
		if d.rmDelay > 0 {
			t := time.NewTimer(d.rmDelay)
			select {
			case <-t.C:
			case <-d.ctx.Done(): // Close: now, while it waits for us
				t.Stop()
			}
		}
		defer trace.Begin(ctx, "remove (supervisor, background)")()
		if err := d.supervisorRemove(ctx, c.ID); err != nil {
			d.log.Error("autoremove: supervisor container left to the next start's reconcile", "id", c.ID, "err", err)
		}
	}()
}

// AutoRemoveDelay is how long the supervisor's part of a --rm removal
// waits: the client whose wait for "removed" was answered exits meanwhile
// (the docker CLI's exit, its signal handlers undone, takes about 5 ms
// here), without that work beside it on the CPUs. Measured, 40 docker
// runs each (docs/performance.md): 2 ms of its 80.
const AutoRemoveDelay = 20 * time.Millisecond

// WithAutoRemoveDelay sets how long the supervisor's part of a --rm
// removal waits (AutoRemoveDelay; 0: none).
func WithAutoRemoveDelay(delay time.Duration) Option {
	return func(d *Daemon) { d.rmDelay = delay }
}

// AwaitAutoRemovals waits for the supervisor's parts of the --rm removals
// under way when called (not those begun after), or until ctx ends: a
// garbage collection then finds their snapshots gone and frees the layers
// under them.
func (d *Daemon) AwaitAutoRemovals(ctx context.Context) error {
	d.mu.Lock()
	pending := make([]chan struct{}, 0, len(d.removals))
	for _, ch := range d.removals {
		pending = append(pending, ch)
	}
	d.mu.Unlock()
	for _, ch := range pending {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// autoRemove tells whether c goes at its exit (--rm).
func (c *Container) autoRemove() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.HostConfig != nil && c.HostConfig.AutoRemove
}
