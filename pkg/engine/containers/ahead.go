package containers

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/mount"

	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/trace"
)

// A task made ahead: when a container is created, its task is created
// (runtime create: namespaces, cgroup, mounts, init waiting for its exec)
// in the background, so that the start that clients send right after the
// create (docker run: create, attach, wait, start) finds it made or being
// made and only starts it. The docker CLI takes 3 to 5 ms here from the
// create's answer to the start; the task create takes 12 or more.
//
// Nothing a client sees changes: the container stays created (no pid, no
// address, no event); its namespace is bound at its path, but addresses,
// veths, published ports and events come at the start as before. Whatever
// reads or changes what the task was made from (an update, a copy into or
// out of the container, a commit, an export, a removal) first drops the
// task (dropAhead), as does a timer when no start comes (tasksAhead's
// linger): from then on the container is as if nothing had been made.
// A crash leaves it to the next start's sweeps (dropStaleTask, the
// network's Reconcile, shmDown), as a start cut short.
//
// Containers whose start depends on the state of something else at the
// start are not made ahead: those joining another container's namespaces
// (its init of the time), with legacy links (the peers' addresses), with
// binds or volumes (a mount made on the host path, a volume's copy-up,
// between create and start would be missed), and with published ports (a
// host port held by a container that may never start).

// WithTasksAhead makes each new container's task ahead of its start; one
// that no start takes within linger is deleted. At most maxTasksAhead are
// made ahead and not taken at once. Zero turns it off.
func WithTasksAhead(linger time.Duration) Option {
	return func(d *Daemon) { d.aheadLinger = linger }
}

// AheadLinger is engined's: a few seconds cover the clients' create-to-
// start gaps (docker run's milliseconds, compose's creates of a project
// before its starts) and bound what a lone create holds.
const AheadLinger = 2 * time.Second

// maxTasksAhead bounds the tasks made and not taken (a loop of creates
// alone makes at most this many in vain per linger).
const maxTasksAhead = 8

// taskAhead is one container's task being made or made ahead.
type taskAhead struct {
	done chan struct{}
	err  error // the create's, when done; the start then creates it again
	// timer drops it when no start has taken it in time.
	timer *time.Timer
}

// aheadEligible says whether c's task may be made before its start
// (c.mu held).
func aheadEligible(c *Container) bool {
	hc := c.HostConfig
	if hc == nil || oci.JoinsPeers(hc) || len(hc.Links) > 0 || len(hc.PortBindings) > 0 || hc.PublishAllPorts {
		return false
	}
	for _, mp := range c.MountPoints {
		if mp.Type == mount.TypeBind || mp.Type == mount.TypeVolume {
			return false
		}
	}
	return true
}

// makeAhead begins c's task in the background (Create's end); its spans
// go to the create's trace (ctx), which the start's shares.
func (d *Daemon) makeAhead(ctx context.Context, c *Container) {
	if d.aheadLinger <= 0 {
		return
	}
	c.mu.Lock()
	eligible := aheadEligible(c)
	c.mu.Unlock()
	if !eligible {
		return
	}
	d.mu.Lock()
	if d.ahead >= maxTasksAhead {
		d.mu.Unlock()
		return
	}
	d.ahead++
	d.mu.Unlock()
	a := &taskAhead{done: make(chan struct{})}
	// Set before a is c's: whoever takes a stops it.
	a.timer = time.AfterFunc(d.aheadLinger, func() {
		// After Close, the next engine start's sweeps undo it.
		if d.ctx.Err() == nil && d.takeAhead(c, a) {
			d.undoAhead(d.ctx, c, a)
		}
	})
	c.mu.Lock()
	c.ahead = a
	tl, err := taskLog(c)
	tty, stdin := c.Config.Tty, c.Config.OpenStdin
	c.mu.Unlock()
	ctx = trace.NewContext(d.ctx, trace.FromContext(ctx))
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(a.done)
		defer trace.Begin(ctx, "task create ahead")()
		if err != nil {
			a.err = err
			return
		}
		if a.err = d.repairEtcFiles(c); a.err != nil {
			return
		}
		if a.err = d.shmUp(c); a.err != nil {
			return
		}
		if d.net != nil {
			endReserve := trace.Begin(ctx, "network namespace (reserve)")
			a.err = d.net.Reserve(c.ID)
			endReserve()
			if a.err != nil {
				return
			}
		}
		if a.err = d.sup.CreateTask(ctx, c.ID, tl, tty, stdin); a.err != nil {
			// A stale task of the same id (a create cut short) is the
			// start's to replace; whatever a failed create left goes.
			if !errdefs.IsAlreadyExists(a.err) {
				_ = d.sup.DeleteTask(context.WithoutCancel(ctx), c.ID, true)
			}
		}
	}()
}

// takeAhead claims a for its container: true for one caller only.
func (d *Daemon) takeAhead(c *Container, a *taskAhead) bool {
	c.mu.Lock()
	ok := c.ahead == a && a != nil
	if ok {
		c.ahead = nil
	}
	c.mu.Unlock()
	if ok {
		a.timer.Stop()
		d.mu.Lock()
		d.ahead--
		d.mu.Unlock()
	}
	return ok
}

// claimAhead takes c's task made ahead, if any, for the caller.
func (d *Daemon) claimAhead(c *Container) *taskAhead {
	c.mu.Lock()
	a := c.ahead
	c.mu.Unlock()
	if a == nil || !d.takeAhead(c, a) {
		return nil
	}
	return a
}

// dropAhead undoes c's task made ahead, if any: what follows sees the
// container as if nothing had been made.
func (d *Daemon) dropAhead(ctx context.Context, c *Container) {
	if a := d.claimAhead(c); a != nil {
		d.undoAhead(ctx, c, a)
	}
}

// undoAhead waits for a's create and deletes what it made.
func (d *Daemon) undoAhead(ctx context.Context, c *Container, a *taskAhead) {
	<-a.done
	ctx = context.WithoutCancel(ctx)
	if a.err == nil {
		if err := d.sup.DeleteTask(ctx, c.ID, true); err != nil && !errdefs.IsNotFound(err) {
			d.log.Warn("delete the task made ahead", "id", c.ID, "err", err)
		}
	}
	if d.net != nil {
		d.net.Unreserve(c.ID)
	}
	d.shmDown(c)
}

// awaitAhead waits for the start's task made ahead; it reports whether the
// task is there to be started.
func awaitAhead(ctx context.Context, a *taskAhead) bool {
	if a == nil {
		return false
	}
	defer trace.Begin(ctx, "wait for the task made ahead")()
	<-a.done
	return a.err == nil
}

// DropTaskAhead undoes the task made ahead of the container's start, if
// any, for what reads the container's snapshot outside this package (its
// export).
func (d *Daemon) DropTaskAhead(ctx context.Context, ref string) error {
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	d.dropAhead(ctx, c)
	return nil
}
