package containers

import "github.com/moby/moby/api/types/events"

// Listed records the `top` event that dockerd logs after it listed a
// container's processes.
func (d *Daemon) Listed(ref string) {
	if c, err := d.Get(ref); err == nil {
		d.emit(c, events.ActionTop, nil)
	}
}
