package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
)

func psCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [--format table|json] ID [ps options]",
		Short: "list the processes of a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pids, err := container.Pids(g.root, args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				if pids == nil {
					pids = []int{}
				}
				b, _ := json.Marshal(pids)
				_, err := os.Stdout.Write(append(b, '\n'))
				return err
			}
			psArgs := args[1:]
			if len(psArgs) == 0 {
				psArgs = []string{"-ef"}
			}
			out, err := exec.Command("ps", psArgs...).Output()
			if err != nil {
				return fmt.Errorf("ps: %w", err)
			}
			lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			col := -1
			for i, h := range strings.Fields(lines[0]) {
				if h == "PID" {
					col = i
				}
			}
			if col < 0 {
				return fmt.Errorf("ps output has no PID column")
			}
			in := map[int]bool{}
			for _, p := range pids {
				in[p] = true
			}
			fmt.Println(lines[0])
			for _, l := range lines[1:] {
				f := strings.Fields(l)
				if len(f) > col {
					if p, err := strconv.Atoi(f[col]); err == nil && in[p] {
						fmt.Println(l)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().SetInterspersed(false)
	return cmd
}
