// Package nsenter holds the C constructor that lets `runtime exec` join a
// running container's namespaces (including mount and user, which a
// multi-threaded Go process cannot enter). Importing it is all it takes; it
// does nothing unless the process was started with _BERTH_NSENTER set.
package nsenter

// #cgo CFLAGS: -Wall -O2
import "C"
