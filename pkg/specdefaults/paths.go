package specdefaults

import "slices"

// MaskedPaths and ReadonlyPaths are docker's defaults (containerd's CRI
// uses the same lists).
var (
	maskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// MaskedPaths returns a fresh copy of the default masked paths.
func MaskedPaths() []string { return slices.Clone(maskedPaths) }

// ReadonlyPaths returns a fresh copy of the default read-only paths.
func ReadonlyPaths() []string { return slices.Clone(readonlyPaths) }
