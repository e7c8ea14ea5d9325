package containers

import (
	"context"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/pkg/errdefs"
)

// PruneReport is what a container prune removed.
type PruneReport struct {
	Deleted        []string
	SpaceReclaimed uint64
}

// Prune removes the containers that are not running and that match keeps,
// each with its task, snapshot and directory (as Remove does). usage, when
// set, gives the disk space of a container's writable layer, read before
// it goes; a container that fails to go is left out of the report, as
// dockerd does. One prune runs at a time (409 otherwise). A `prune` event
// with the reclaimed bytes ends it.
func (d *Daemon) Prune(ctx context.Context, match func(Container) bool, usage func(ctx context.Context, id string) (int64, error)) (PruneReport, error) {
	if !d.pruning.CompareAndSwap(false, true) {
		return PruneReport{}, &msgError{msg: "a prune operation is already running", class: errdefs.ErrConflict}
	}
	defer d.pruning.Store(false)
	rep := PruneReport{Deleted: []string{}}
	for _, s := range d.List(true, 0) {
		if ctx.Err() != nil {
			break
		}
		if s.State.Running || s.State.Restarting || !match(s) {
			continue
		}
		c, err := d.Get(s.ID)
		if err != nil {
			continue // removed meanwhile
		}
		var size int64
		if usage != nil {
			if n, err := usage(ctx, s.ID); err == nil {
				size = n
			} else {
				d.log.Debug("prune: container layer size", "id", s.ID, "err", err)
			}
		}
		c.mu.Lock()
		running := c.State.Running || c.State.Restarting
		c.mu.Unlock()
		if running { // started since the listing
			continue
		}
		if err := d.remove(ctx, c); err != nil {
			d.log.Warn("prune: remove container", "id", s.ID, "err", err)
			continue
		}
		rep.Deleted = append(rep.Deleted, s.ID)
		if size > 0 {
			rep.SpaceReclaimed += uint64(size)
		}
	}
	now := time.Now()
	d.events.publish(events.Message{
		Type: events.ContainerEventType, Action: events.ActionPrune, Scope: "local",
		Actor: events.Actor{Attributes: map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)}},
		Time:  now.Unix(), TimeNano: now.UnixNano(),
	})
	return rep, nil
}
