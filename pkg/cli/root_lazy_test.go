package cli

import (
	"io"
	"slices"
	"testing"
)

// The table newRootCommandFor picks from names each command as it calls
// itself, so that every name and alias finds its command.
func TestSubcommandNames(t *testing.T) {
	c := &CLI{Out: io.Discard, Err: io.Discard}
	all := NewRootCommand(c).Commands()
	if len(all) != len(subcommands) {
		t.Fatalf("%d commands, %d in the table", len(all), len(subcommands))
	}
	for _, sc := range subcommands {
		cmd := sc.make(c)
		if cmd.Name() != sc.name || !slices.Equal(cmd.Aliases, sc.aliases) {
			t.Errorf("table %s %v, command %s %v", sc.name, sc.aliases, cmd.Name(), cmd.Aliases)
		}
	}
}

func TestRootBuildsOnlyTheCommandUsed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" : every command
	}{
		{[]string{"version"}, "version"},
		{[]string{"-H", "unix:///x.sock", "run", "busybox"}, "run"},
		{[]string{"--host=unix:///x.sock", "--tls", "--tlscacert", "ca.pem", "ps", "-a"}, "ps"},
		{[]string{"ls"}, "images"},
		{[]string{"--help"}, ""},
		{[]string{"help", "run"}, ""},
		{[]string{"--no-such-flag", "ps"}, ""},
		{[]string{"rnu"}, ""},
		{nil, ""},
	} {
		root := newRootCommandFor(&CLI{Out: io.Discard, Err: io.Discard}, tc.args)
		cmds := root.Commands()
		if tc.want == "" {
			if len(cmds) != len(subcommands) {
				t.Errorf("%q: %d commands, want all %d", tc.args, len(cmds), len(subcommands))
			}
			continue
		}
		if len(cmds) != 1 || cmds[0].Name() != tc.want {
			t.Errorf("%q: commands %v, want only %s", tc.args, cmds, tc.want)
		}
	}
}
