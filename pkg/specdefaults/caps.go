package specdefaults

import (
	"slices"

	"github.com/berthd/berth/pkg/runtime/caps"
)

// Capabilities is docker's (and containerd's CRI's) default
// bounding/effective/permitted set.
var Capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// HostCapabilities is every capability this process may grant: its
// permitted set, which is bounded by the host's bounding set (on this kind
// of host CAP_SYS_RESOURCE is missing, and a privileged container must not
// ask for it or the runtime fails).
func HostCapabilities() []string {
	avail, err := caps.Available()
	if err != nil {
		return slices.Clone(Capabilities)
	}
	var out []string
	last := caps.LastCap()
	for i, n := range caps.Names() {
		if i <= last && avail.Has(i) {
			out = append(out, n)
		}
	}
	return out
}
