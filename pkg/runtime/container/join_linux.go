package container

import (
	"os/exec"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// parentJoins reports whether the parent must join the namespaces given by
// path that init otherwise joins itself (network, IPC, UTS, cgroup): when
// init starts in a new user namespace, setns(2) into a namespace owned by
// the host's user namespace is refused there (EPERM: init has no
// capability over it), so init is started already inside them. The
// namespaces the clone then makes belong to the new user namespace as
// usual. When InitHelper joins namespaces early, it does the joining.
func parentJoins(s *specs.Spec, newUserNS, early bool) bool {
	if !newUserNS || early {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Path != "" && nsFlags[ns.Type] != 0 {
			return true
		}
	}
	return false
}

// startInNamespaces starts cmd from a thread of its own that first joins
// the spec's network, IPC, UTS and cgroup namespaces given by path; the
// clone inherits them. The thread is never given back to the scheduler
// (it ends with the goroutine), so no other work runs in them. cmd must
// not ask for a parent-death signal: it would fire when this thread ends.
func startInNamespaces(cmd *exec.Cmd, s *specs.Spec) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		for _, ns := range s.Linux.Namespaces {
			if ns.Path != "" && nsFlags[ns.Type] != 0 {
				if err := joinNamespace(ns); err != nil {
					errc <- err
					return
				}
			}
		}
		errc <- cmd.Start()
	}()
	return <-errc
}
