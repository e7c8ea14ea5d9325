package volume

import (
	"fmt"
	"os"
	"strings"

	"github.com/docker/go-units"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
)

// mountFlags are the mount(8) options that are flags; the others are the
// filesystem's data.
var mountFlags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "rw": 0, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV,
	"noexec": unix.MS_NOEXEC, "sync": unix.MS_SYNCHRONOUS, "noatime": unix.MS_NOATIME,
	"nodiratime": unix.MS_NODIRATIME, "relatime": unix.MS_RELATIME, "strictatime": unix.MS_STRICTATIME,
	"bind": unix.MS_BIND, "rbind": unix.MS_BIND | unix.MS_REC, "dirsync": unix.MS_DIRSYNC,
}

// mountLocal mounts the device of a volume created with type/device/o
// (e.g. type=tmpfs device=tmpfs o=size=100m,uid=1000, or type=none
// device=/srv/data o=bind) at its mountpoint, as dockerd's local driver.
func mountLocal(v *Volume) error {
	var flags uintptr
	var data []string
	for _, o := range strings.Split(v.Options["o"], ",") {
		if o == "" {
			continue
		}
		if f, ok := mountFlags[o]; ok {
			flags |= f
			continue
		}
		if k, val, ok := strings.Cut(o, "="); ok && k == "size" {
			n, err := units.RAMInBytes(val)
			if err != nil {
				return fmt.Errorf("volume %s: invalid size %q: %w", v.Name, val, errdefs.ErrInvalidArgument)
			}
			o = fmt.Sprintf("size=%d", n)
		}
		data = append(data, o)
	}
	if s := v.Options["size"]; s != "" {
		n, err := units.RAMInBytes(s)
		if err != nil {
			return fmt.Errorf("volume %s: invalid size %q: %w", v.Name, s, errdefs.ErrInvalidArgument)
		}
		data = append(data, fmt.Sprintf("size=%d", n))
	}
	typ, dev := v.Options["type"], v.Options["device"]
	if flags&unix.MS_BIND != 0 {
		typ = ""
		if _, err := os.Stat(dev); err != nil {
			return fmt.Errorf("failed to mount local volume: mount %s:%s, flags: %#x: %w", dev, v.Mountpoint, flags, err)
		}
	}
	if err := unix.Mount(dev, v.Mountpoint, typ, flags, strings.Join(data, ",")); err != nil {
		return fmt.Errorf("failed to mount local volume: mount %s:%s, data: %s: %w", dev, v.Mountpoint, strings.Join(data, ","), err)
	}
	return nil
}
