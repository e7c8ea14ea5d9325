package cli

import (
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/runtime/container"
)

// In standby init is the caller's child (CLONE_PARENT): a run that waits
// for it is refused by name, before anything is made.
func TestStandbyRefusesAttachedRun(t *testing.T) {
	container.InitSibling = true
	defer func() { container.InitSibling = false }()
	root := t.TempDir()
	cmd := New(&globals{})
	cmd.SetArgs([]string{"--root", root, "run", "--bundle", t.TempDir(), "c1"})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "run without --detach is not available in standby") {
		t.Fatalf("run in standby: %v", err)
	}
}
