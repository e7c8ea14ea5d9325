package containers

import (
	"context"

	"github.com/berthd/berth/pkg/errdefs"
)

// dropStaleTask deletes (killing what runs) the task of a container the
// engine does not record as running: a start cut short by a crash of
// engined or supervisord left it, created or even started, and the client
// was told the start failed. As dockerd at restore, the record wins: the
// container stays created or exited and a new start makes a new task.
func (d *Daemon) dropStaleTask(ctx context.Context, c *Container) {
	c.mu.Lock()
	skip := c.State.Running || c.starting || c.removing || c.ahead != nil
	c.mu.Unlock()
	if skip {
		return
	}
	t, err := d.sup.GetTask(ctx, c.ID)
	if errdefs.IsNotFound(err) {
		return
	}
	if err != nil {
		d.log.Warn("stale task check", "id", c.ID, "err", err)
		return
	}
	d.log.Warn("deleting the task of a container that is not running (a start cut short)", "id", c.ID, "task_status", t.GetStatus().String())
	if err := d.sup.DeleteTask(ctx, c.ID, true); err != nil && !errdefs.IsNotFound(err) {
		d.log.Warn("delete stale task", "id", c.ID, "err", err)
	}
}

// dropStaleTasks runs dropStaleTask for every container.
func (d *Daemon) dropStaleTasks(ctx context.Context) {
	d.mu.Lock()
	cs := make([]*Container, 0, len(d.containers))
	for _, c := range d.containers {
		cs = append(cs, c)
	}
	d.mu.Unlock()
	for _, c := range cs {
		d.dropStaleTask(ctx, c)
	}
}
