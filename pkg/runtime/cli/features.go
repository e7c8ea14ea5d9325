package cli

import (
	"encoding/json"
	"os"
	"sort"

	"github.com/berthd/berth/pkg/runtime/caps"
	"github.com/berthd/berth/pkg/runtime/cgroups"
	"github.com/berthd/berth/pkg/runtime/rootfs"
	"github.com/berthd/berth/pkg/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/spf13/cobra"
)

func featuresCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "print the features this runtime supports (runtime-spec features JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, t := false, true
			v1, v2 := !cgroups.IsV2(), cgroups.IsV2()
			opts := []string{}
			for _, m := range []string{"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async", "dirsync",
				"remount", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
				"strictatime", "nostrictatime", "bind", "rbind", "private", "rprivate", "shared", "rshared", "slave",
				"rslave", "unbindable", "runbindable"} {
				opts = append(opts, m)
			}
			opts = append(opts, rootfs.RecursiveMountOptions()...)
			sort.Strings(opts)
			ft := features.Features{
				OCIVersionMin: "1.0.0",
				OCIVersionMax: specs.Version,
				Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
				MountOptions:  opts,
				Linux: &features.Linux{
					Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
					Capabilities: caps.Names(),
					Cgroup:       &features.Cgroup{V1: &v1, V2: &v2, Systemd: &t, SystemdUser: &f},
					Seccomp: &features.Seccomp{Enabled: &t, Actions: seccomp.Actions, Operators: seccomp.Operators,
						Archs: seccomp.Archs, KnownFlags: seccomp.Flags, SupportedFlags: seccomp.Flags},
					Apparmor: &features.Apparmor{Enabled: &f},
					Selinux:  &features.Selinux{Enabled: &f},
				},
				Annotations: map[string]string{"io.github.berthd.berth.runtime": "berth"},
			}
			b, err := json.MarshalIndent(ft, "", "    ")
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(append(b, '\n'))
			return err
		},
	}
}
