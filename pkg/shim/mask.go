package shim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaskExecArg is the first argument that makes the shim binary run
// MaskExec instead of serving: `shim mask-exec PATH... -- RUNTIME ARG...`.
const MaskExecArg = "mask-exec"

// UnifiedControllers is the file crun reads to decide a host is cgroup v2:
// on a hybrid host whose unified hierarchy holds a controller (here
// hugetlb) crun refuses to run, so it is run with this file masked.
const UnifiedControllers = "/sys/fs/cgroup/unified/cgroup.controllers"

// DefaultMasks returns the files a runtime binary must be run with masked:
// UnifiedControllers for crun when that file is not empty.
func DefaultMasks(runtime string) []string {
	if filepath.Base(runtime) != "crun" {
		return nil
	}
	if b, err := os.ReadFile(UnifiedControllers); err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	return []string{UnifiedControllers}
}

// RuntimeCommand returns the command that runs runtime with args: as is
// when mask is empty, else through `self mask-exec` in a private mount
// namespace (the bind mounts are invisible to everyone else; the
// containers get mount namespaces of their own anyway).
func RuntimeCommand(self, runtime string, mask []string, args ...string) *exec.Cmd {
	if len(mask) == 0 {
		return exec.Command(runtime, args...)
	}
	full := append([]string{MaskExecArg}, mask...)
	full = append(full, "--", runtime)
	cmd := exec.Command(self, append(full, args...)...)
	// Go unshares before exec and makes the mounts private (MS_REC|MS_PRIVATE).
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	return cmd
}

// MaskExec is `mask-exec PATH... -- BINARY ARG...`: bind /dev/null over
// every PATH, then exec BINARY. It must run in a mount namespace of its own
// (RuntimeCommand sees to that).
func MaskExec(args []string) error {
	i := 0
	for i < len(args) && args[i] != "--" {
		i++
	}
	if i >= len(args)-1 {
		return fmt.Errorf("mask-exec: usage: mask-exec PATH... -- BINARY [ARG...]")
	}
	for _, p := range args[:i] {
		if err := unix.Mount("/dev/null", p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("mask-exec: mask %s: %w", p, err)
		}
	}
	bin, err := exec.LookPath(args[i+1])
	if err != nil {
		return fmt.Errorf("mask-exec: %w", err)
	}
	return unix.Exec(bin, args[i+1:], os.Environ())
}
