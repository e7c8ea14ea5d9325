package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berthd/berth/pkg/runtime/container"
)

// updateFlags are runc's `update` flags that set a resource; cpu-shares is
// accepted next to runc's cpu-share.
var updateFlags = []struct{ name, usage string }{
	{"blkio-weight", "per cgroup block I/O weight, 10 to 1000"},
	{"cpu-period", "CPU CFS period (in usecs); 0 to use the system default"},
	{"cpu-quota", "CPU CFS hard cap (in usecs) per period; -1 for no limit"},
	{"cpu-burst", "CPU CFS burst (in usecs) on top of the quota"},
	{"cpu-share", "CPU shares (relative weight vs. other containers)"},
	{"cpu-shares", "same as --cpu-share"},
	{"cpu-rt-period", "CPU realtime period (in usecs)"},
	{"cpu-rt-runtime", "CPU realtime runtime (in usecs) per realtime period"},
	{"cpu-idle", "1 to make the cgroup SCHED_IDLE, 0 for the default"},
	{"cpuset-cpus", "CPU(s) to use"},
	{"cpuset-mems", "memory node(s) to use"},
	{"memory", "memory limit (bytes, or with a unit: 32m); -1 for no limit"},
	{"memory-reservation", "memory soft limit (bytes, or with a unit)"},
	{"memory-swap", "memory plus swap limit (bytes, or with a unit); -1 for unlimited swap"},
	{"kernel-memory", "kernel memory limit (refused: not supported)"},
	{"kernel-memory-tcp", "kernel TCP memory limit (refused: not supported)"},
	{"pids-limit", "maximum number of pids; -1 (or 0) for no limit"},
	{"l3-cache-schema", "Intel RDT/CAT L3 cache schema (refused: no Intel RDT support)"},
	{"mem-bw-schema", "Intel RDT/MBA memory bandwidth schema (refused: no Intel RDT support)"},
}

func updateCommand(g *globals) *cobra.Command {
	var resources string
	cmd := &cobra.Command{
		Use:   "update [--resources FILE|-] [flags] ID",
		Short: "update the resource limits of a container",
		Long: `Update the resource limits of a created, running or paused container.

--resources (-r) reads an OCI LinuxResources JSON object from FILE, or from
standard input with "-"; fields left out stay unchanged. It cannot be combined
with the other flags, which each set one limit.`,
		Args: oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader
			if resources == "-" {
				in = os.Stdin
			} else if resources != "" {
				f, err := os.Open(resources)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			r, err := parseUpdate(cmd.Flags(), in)
			if err != nil {
				return err
			}
			return container.Update(g.root, args[0], r)
		},
	}
	cmd.Flags().StringVarP(&resources, "resources", "r", "", `file with the LinuxResources JSON to apply, or "-" for standard input`)
	for _, f := range updateFlags {
		cmd.Flags().String(f.name, "", f.usage)
	}
	for _, hidden := range []string{"cpu-shares", "kernel-memory", "kernel-memory-tcp"} {
		_ = cmd.Flags().MarkHidden(hidden)
	}
	return cmd
}

// parseUpdate builds the update from the JSON in (when not nil) or from the
// flags that were given. A flag that is given is never ignored: combined
// with a JSON input, or naming something this runtime cannot apply, it is an
// error.
func parseUpdate(fs *pflag.FlagSet, in io.Reader) (*specs.LinuxResources, error) {
	var set []string
	for _, f := range updateFlags {
		if fs.Changed(f.name) {
			set = append(set, f.name)
		}
	}
	if in != nil {
		if len(set) > 0 {
			return nil, fmt.Errorf("--%s cannot be combined with --resources", set[0])
		}
		r := &specs.LinuxResources{}
		dec := json.NewDecoder(in)
		dec.DisallowUnknownFields()
		if err := dec.Decode(r); err != nil {
			return nil, fmt.Errorf("parse resources: %w", err)
		}
		return r, nil
	}
	if len(set) == 0 {
		return nil, errors.New("update: no resources given (flags or --resources)")
	}
	r := &specs.LinuxResources{}
	mem := func() *specs.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		return r.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	for _, name := range set {
		v, _ := fs.GetString(name)
		var err error
		switch name {
		case "blkio-weight":
			var w uint64
			if w, err = strconv.ParseUint(v, 10, 16); err == nil {
				if w != 0 && (w < 10 || w > 1000) {
					return nil, fmt.Errorf("invalid value for blkio-weight: %d is not between 10 and 1000", w)
				}
				if w != 0 {
					r.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(w))}
				}
			}
		case "cpu-period":
			cpu().Period, err = parseUint(v)
		case "cpu-burst":
			cpu().Burst, err = parseUint(v)
		case "cpu-share", "cpu-shares":
			cpu().Shares, err = parseUint(v)
		case "cpu-rt-period":
			cpu().RealtimePeriod, err = parseUint(v)
		case "cpu-quota":
			cpu().Quota, err = parseInt(v)
		case "cpu-rt-runtime":
			cpu().RealtimeRuntime, err = parseInt(v)
		case "cpu-idle":
			cpu().Idle, err = parseInt(v)
		case "cpuset-cpus":
			cpu().Cpus = v
		case "cpuset-mems":
			cpu().Mems = v
		case "memory":
			mem().Limit, err = parseBytes(v)
		case "memory-reservation":
			mem().Reservation, err = parseBytes(v)
		case "memory-swap":
			mem().Swap, err = parseBytes(v)
		case "kernel-memory", "kernel-memory-tcp":
			return nil, fmt.Errorf("--%s: kernel memory limits are not supported (the kernel ignores them)", name)
		case "pids-limit":
			var n int64
			if n, err = strconv.ParseInt(v, 10, 64); err == nil {
				if n <= 0 {
					n = -1 // no limit
				}
				r.Pids = &specs.LinuxPids{Limit: &n}
			}
		case "l3-cache-schema", "mem-bw-schema":
			return nil, fmt.Errorf("--%s: updating a non-existent Intel RDT configuration is not supported", name)
		}
		if err != nil {
			return nil, fmt.Errorf("invalid value for %s: %w", name, err)
		}
	}
	return r, nil
}

func ptr[T any](v T) *T { return &v }

func parseUint(s string) (*uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func parseInt(s string) (*int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// parseBytes reads a size as runc does: bytes, a size with a binary unit
// ("32m", "1g"), or -1 for no limit.
func parseBytes(s string) (*int64, error) {
	if s == "-1" {
		return ptr(int64(-1)), nil
	}
	v, err := units.RAMInBytes(s)
	if err != nil {
		return nil, err
	}
	return &v, nil
}
