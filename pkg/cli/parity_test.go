package cli

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/berthd/berth/pkg/testprereq"
)

// TestEveryCommandHasDockersFlags: each ctl command (and the root's
// global options) has every flag `docker COMMAND --help` lists, with the
// same shorthand (docker CLI 28): a flag may be refused when used, never
// missing. Commands docker does not have (cobra's completion) are skipped.
func TestEveryCommandHasDockersFlags(t *testing.T) {
	docker, err := exec.LookPath("docker")
	testprereq.Require(t, err == nil, "docker CLI: %v", err)
	flagLine := regexp.MustCompile(`^\s+(?:-(\w), )?--([\w-]+)`)
	dockerFlags := func(path []string) (map[string]string, bool) {
		cmd := exec.Command(docker, append(path, "--help")...)
		cmd.Env = append(cmd.Environ(), "DOCKER_CONFIG="+t.TempDir())
		out, err := cmd.Output()
		if err != nil {
			return nil, false
		}
		flags := map[string]string{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if m := flagLine.FindStringSubmatch(sc.Text()); m != nil {
				flags[m[2]] = m[1]
			}
		}
		return flags, true
	}
	root := NewRootCommand(&CLI{})
	root.InitDefaultVersionFlag() // cobra adds it at the first Execute
	checked := 0
	var walk func(cmd *cobra.Command, path []string)
	walk = func(cmd *cobra.Command, path []string) {
		if cmd.Name() == "completion" || cmd.Name() == "help" {
			return
		}
		if want, ok := dockerFlags(path); ok {
			checked++
			for name, short := range want {
				if name == "help" {
					continue
				}
				f := cmd.Flags().Lookup(name)
				switch {
				case f == nil:
					t.Errorf("ctl %s lacks --%s", strings.Join(path, " "), name)
				case f.Shorthand != short:
					t.Errorf("ctl %s --%s: shorthand %q, docker's %q", strings.Join(path, " "), name, f.Shorthand, short)
				}
			}
		} else if len(path) > 0 {
			t.Logf("docker has no %q: not compared", strings.Join(path, " "))
		}
		for _, sub := range cmd.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(root, nil)
	if checked < 60 {
		t.Fatalf("compared %d commands with docker's; the walk or docker's help changed", checked)
	}
}
