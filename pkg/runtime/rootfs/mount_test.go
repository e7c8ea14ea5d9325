package rootfs

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	flags, prop, data := ParseMountOptions([]string{"nosuid", "ro", "rw", "noexec", "rbind", "rslave", "mode=755", "size=65536k"})
	if flags != unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_BIND|unix.MS_REC {
		t.Errorf("flags %#x", flags)
	}
	if len(prop) != 1 || prop[0] != unix.MS_SLAVE|unix.MS_REC {
		t.Errorf("propagation %v", prop)
	}
	if data != "mode=755,size=65536k" {
		t.Errorf("data %q", data)
	}
}
