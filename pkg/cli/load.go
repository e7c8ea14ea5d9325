package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newLoadCommand(c *CLI) *cobra.Command {
	var input, platform string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive (docker save or OCI layout) or STDIN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := platformOption(platform)
			if err != nil {
				return fmt.Errorf("invalid platform: %w", err)
			}
			var in io.Reader = c.In
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			} else if f, ok := c.In.(*os.File); ok {
				if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
					return errors.New("requested load from stdin, but stdin is empty")
				}
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			opts := []client.ImageLoadOption{client.ImageLoadWithQuiet(quiet)}
			if p != nil {
				opts = append(opts, client.ImageLoadWithPlatforms(*p))
			}
			res, err := cl.ImageLoad(cmd.Context(), in, opts...)
			if err != nil {
				return err
			}
			defer res.Close()
			dec := json.NewDecoder(res)
			for {
				var m struct {
					Stream string `json:"stream"`
					Error  string `json:"error"`
				}
				if err := dec.Decode(&m); errors.Is(err, io.EOF) {
					return nil
				} else if err != nil {
					return err
				}
				if m.Error != "" {
					return errors.New(m.Error)
				}
				fmt.Fprint(c.Out, m.Stream)
			}
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress the load output")
	cmd.Flags().StringVar(&platform, "platform", "", `load only the given platform variant, as "os[/arch[/variant]]" (e.g., "linux/amd64")`)
	return cmd
}
