package cli

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// newPortCommand is docker's port: the published ports of a container,
// from NetworkSettings.Ports of its inspect.
func newPortCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ContainerInspect(cmd.Context(), args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			var ports network.PortMap
			if ns := res.Container.NetworkSettings; ns != nil {
				ports = ns.Ports
			}
			var out []string
			if len(args) == 2 {
				num, proto, _ := strings.Cut(args[1], "/")
				if proto == "" {
					proto = "tcp"
				}
				if _, err := strconv.ParseUint(num, 10, 16); err != nil {
					return fmt.Errorf("Error: invalid port (%s): %w", num, err)
				}
				var bindings []network.PortBinding
				if p, err := network.ParsePort(num + "/" + proto); err == nil {
					bindings = ports[p]
				}
				if len(bindings) == 0 {
					return fmt.Errorf("Error: No public port '%s' published for %s", args[1], args[0])
				}
				for _, b := range bindings {
					out = append(out, hostPort(b))
				}
			} else {
				for p, bindings := range ports {
					for _, b := range bindings {
						out = append(out, p.String()+" -> "+hostPort(b))
					}
				}
			}
			slices.SortFunc(out, naturalCompare)
			if len(out) > 0 {
				fmt.Fprintln(c.Out, strings.Join(out, "\n"))
			}
			return nil
		},
	}
}

func hostPort(b network.PortBinding) string {
	ip := ""
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	return net.JoinHostPort(ip, b.HostPort)
}

// naturalCompare orders strings with their digit runs compared as numbers
// ("9/tcp" before "10/tcp"), as docker sorts the port lines.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
