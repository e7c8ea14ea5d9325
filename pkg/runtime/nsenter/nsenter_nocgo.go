//go:build !cgo

// Package nsenter: without cgo there is no constructor, so `runtime exec`
// refuses to run (container.ExecInit sees _BERTH_NSENTER still set).
package nsenter
