package containers

import (
	"context"

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
// on in the background, off the path of the run. A crash in between
// leaves a supervisor container the engine has no record of, which
// reconcile removes at the next start; a failure is logged and left to
// the same reconcile.
func (d *Daemon) autoRemove(ctx context.Context, c *Container) {
	name, _, ok := d.markRemoving(c)
	if !ok {
		return // a rm -f is removing it
	}
	end := trace.Begin(ctx, "remove (engine)")
	err := d.forget(c, name)
	end()
	if err != nil {
		// Still listed: a later rm retries the whole removal.
		d.log.Error("autoremove", "id", c.ID, "err", err)
		return
	}
	failpoint.Hit(autoRemoveForgotten)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer trace.Begin(ctx, "remove (supervisor, background)")()
		if err := d.supervisorRemove(ctx, c.ID); err != nil {
			d.log.Error("autoremove: supervisor container left to the next start's reconcile", "id", c.ID, "err", err)
		}
	}()
}

// autoRemove tells whether c goes at its exit (--rm).
func (c *Container) autoRemove() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.HostConfig != nil && c.HostConfig.AutoRemove
}
