package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// writeTo copies r to the file path (atomically: a partial archive never
// has the final name), or to out when path is "" and out is no terminal.
func writeTo(path string, out io.Writer, r io.Reader, what string) error {
	if path == "" {
		if isTerminal(out) {
			return fmt.Errorf("cowardly refusing to save to a terminal. Use the -o flag or redirect")
		}
		_, err := io.Copy(out, r)
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".ctl-"+what+"-*")
	if err != nil {
		return fmt.Errorf("failed to save %s: %w", what, err)
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("failed to save %s: %w", what, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func newSaveCommand(c *CLI) *cobra.Command {
	var output, platform string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := platformOption(platform)
			if err != nil {
				return fmt.Errorf("invalid platform: %w", err)
			}
			if output == "" && isTerminal(c.Out) {
				return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var opts []client.ImageSaveOption
			if p != nil {
				opts = append(opts, client.ImageSaveWithPlatforms(*p))
			}
			res, err := cl.ImageSave(cmd.Context(), args, opts...)
			if err != nil {
				return err
			}
			defer res.Close()
			return writeTo(output, c.Out, res, "image")
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file, instead of STDOUT")
	cmd.Flags().StringVar(&platform, "platform", "", `save only the given platform variant, as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
	return cmd
}
