package containers

import (
	"strconv"

	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/pkg/engine/volume"
)

// Exported records the export event of a container whose whole
// filesystem went out to the client; dockerd records none for an export
// that failed, and neither does the API.
func (d *Daemon) Exported(ref string) {
	if c, err := d.Get(ref); err == nil {
		d.emit(c, events.ActionExport, nil)
	}
}

// emitVolume records a volume event with dockerd's attributes for the
// action (driver always; container, destination... for mount/unmount).
func (d *Daemon) emitVolume(name string, action events.Action, attrs map[string]string) {
	d.publishEvent(events.VolumeEventType, action, name, attrs)
}

// mountDriver is the driver a mount point's volume was made with; records
// older than the driver field were all of the local driver.
func mountDriver(mp *volume.MountPoint) string {
	if mp.Driver == "" {
		return volume.LocalDriver
	}
	return mp.Driver
}

// emitVolumeMount records that container id mounted mp's volume, with
// dockerd's attributes (a volume's propagation is "" there too: only binds
// carry one).
func (d *Daemon) emitVolumeMount(id string, mp *volume.MountPoint) {
	d.emitVolume(mp.Name, events.ActionMount, map[string]string{
		"container":   id,
		"destination": mp.Destination,
		"driver":      mountDriver(mp),
		"propagation": string(mp.Propagation),
		"read/write":  strconv.FormatBool(mp.RW),
	})
}

// emitVolumeUnmount records that container id let go of mp's volume.
func (d *Daemon) emitVolumeUnmount(id string, mp *volume.MountPoint) {
	d.emitVolume(mp.Name, events.ActionUnmount, map[string]string{
		"container": id,
		"driver":    mountDriver(mp),
	})
}
