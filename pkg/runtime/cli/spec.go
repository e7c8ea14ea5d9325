package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/spf13/cobra"
)

func specCommand(g *globals) *cobra.Command {
	var bundle string
	var terminal bool
	cmd := &cobra.Command{
		Use:   "spec",
		Short: "write a default config.json into the bundle directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := filepath.Join(bundle, "config.json")
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("file %s exists: remove it first", p)
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			b, err := json.MarshalIndent(container.DefaultSpec(terminal), "", "\t")
			if err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o666)
			if err != nil {
				return err
			}
			_, err = f.Write(append(b, '\n'))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", ".", "bundle directory")
	cmd.Flags().BoolVar(&terminal, "terminal", false, "set process.terminal (runc's default is true)")
	cmd.Flags().Bool("rootless", false, "unsupported")
	return cmd
}
