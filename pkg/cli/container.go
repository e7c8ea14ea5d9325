package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// newContainerCommand is `ctl container ...`, docker's management command
// beside the short forms (run, ps, rm...): the same commands, ps as ls.
func newContainerCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "container",
		Short: "Manage containers",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	ls := newPsCommand(c)
	ls.Use, ls.Aliases = "ls [OPTIONS]", []string{"list", "ps"}
	rm := newRmCommand(c)
	rm.Aliases = []string{"remove"}
	cmd.AddCommand(
		newAttachCommand(c),
		newCommitCommand(c),
		newCpCommand(c),
		newCreateCommand(c),
		newDiffCommand(c),
		newExecCommand(c),
		newExportCommand(c),
		newContainerInspectCommand(c),
		newKillCommand(c),
		newLogsCommand(c),
		ls,
		newPauseCommand(c),
		newPortCommand(c),
		newContainerPruneCommand(c),
		newRenameCommand(c),
		newRestartCommand(c),
		rm,
		newRunCommand(c),
		newStartCommand(c),
		newStatsCommand(c),
		newStopCommand(c),
		newTopCommand(c),
		newUnpauseCommand(c),
		newUpdateCommand(c),
		newWaitCommand(c),
	)
	return cmd
}

func newContainerPruneCommand(c *CLI) *cobra.Command {
	var force bool
	var filterFlags []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilterFlags(filterFlags)
			if err != nil {
				return err
			}
			if !force && !confirm(c, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?") {
				return nil // docker: a "no" ends quietly, status 0
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ContainerPrune(cmd.Context(), client.ContainerPruneOptions{Filters: f})
			if err != nil {
				return err
			}
			var reclaimed uint64
			if len(res.Report.ContainersDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Containers:")
				for _, id := range res.Report.ContainersDeleted {
					fmt.Fprintln(c.Out, id)
				}
				fmt.Fprintln(c.Out)
				reclaimed = res.Report.SpaceReclaimed
			}
			fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(reclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filterFlags, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// confirm asks question on stdout and reads the answer from stdin, as
// docker's prompt: only y or Y is a yes; no answer is a no.
func confirm(c *CLI, question string) bool {
	fmt.Fprint(c.Out, question+" [y/N] ")
	if c.In == nil {
		return false
	}
	line, _ := bufio.NewReader(c.In).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(line), "y")
}
