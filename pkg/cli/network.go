package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// newNetworkCommand is `ctl network`, as docker's.
func newNetworkCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "network COMMAND", Short: "Manage networks", Args: cobra.NoArgs}
	cmd.AddCommand(newNetworkCreateCommand(c), newNetworkListCommand(c), newNetworkInspectCommand(c),
		newNetworkRemoveCommand(c), newNetworkPruneCommand(c), newNetworkConnectCommand(c), newNetworkDisconnectCommand(c))
	return cmd
}

func newNetworkCreateCommand(c *CLI) *cobra.Command {
	var driver, ipamDriver, scope, configFrom string
	var subnets, gateways, ranges, labels, opts, ipamOpts, aux []string
	var internal, attachable, ingress, configOnly, ipv4, ipv6 bool
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ipam, err := ipamConfig(ipamDriver, subnets, gateways, ranges, aux, ipamOpts)
			if err != nil {
				return err
			}
			o := client.NetworkCreateOptions{
				Driver: driver, Scope: scope, IPAM: ipam, Internal: internal, Attachable: attachable,
				Ingress: ingress, ConfigOnly: configOnly, ConfigFrom: configFrom,
				Options: keyValues(opts), Labels: keyValues(labels),
			}
			if cmd.Flags().Changed("ipv4") {
				o.EnableIPv4 = &ipv4
			}
			if cmd.Flags().Changed("ipv6") {
				o.EnableIPv6 = &ipv6
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.NetworkCreate(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, res.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "bridge", "Driver to manage the Network")
	f.StringVar(&ipamDriver, "ipam-driver", "default", "IP Address Management Driver")
	f.StringVar(&scope, "scope", "", "Control the network's scope")
	f.StringVar(&configFrom, "config-from", "", "The network from which to copy the configuration")
	f.StringArrayVar(&subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	f.StringArrayVar(&gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	f.StringArrayVar(&ranges, "ip-range", nil, "Allocate container ip from a sub-range")
	f.StringArrayVar(&aux, "aux-address", nil, "Auxiliary IPv4 or IPv6 addresses used by Network driver")
	f.StringArrayVar(&labels, "label", nil, "Set metadata on a network")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	f.StringArrayVar(&ipamOpts, "ipam-opt", nil, "Set IPAM driver specific options")
	f.BoolVar(&internal, "internal", false, "Restrict external access to the network")
	f.BoolVar(&attachable, "attachable", false, "Enable manual container attachment")
	f.BoolVar(&ingress, "ingress", false, "Create swarm routing-mesh network")
	f.BoolVar(&configOnly, "config-only", false, "Create a configuration only network")
	f.BoolVar(&ipv4, "ipv4", true, "Enable or disable IPv4 address assignment")
	f.BoolVar(&ipv6, "ipv6", false, "Enable or disable IPv6 address assignment")
	return cmd
}

// ipamConfig pairs each --gateway and --ip-range with the --subnet that
// contains it, as docker's CLI does.
func ipamConfig(driver string, subnets, gateways, ranges, aux, opts []string) (*network.IPAM, error) {
	ipam := &network.IPAM{Driver: driver, Options: keyValues(opts)}
	if len(opts) == 0 {
		ipam.Options = nil
	}
	if len(subnets) == 0 && (len(gateways) > 0 || len(ranges) > 0 || len(aux) > 0) {
		return nil, errors.New("every ip-range or gateway must have a corresponding subnet")
	}
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid subnet %s: %w", s, err)
		}
		ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: p})
	}
	for _, g := range gateways {
		a, err := netip.ParseAddr(g)
		if err != nil {
			return nil, fmt.Errorf("invalid gateway %s: %w", g, err)
		}
		i := containing(ipam.Config, a)
		if i < 0 {
			return nil, fmt.Errorf("no matching subnet for gateway %s", g)
		}
		if ipam.Config[i].Gateway.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", ipam.Config[i].Gateway, g, ipam.Config[i].Subnet)
		}
		ipam.Config[i].Gateway = a
	}
	for _, r := range ranges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("invalid ip-range %s: %w", r, err)
		}
		i := containing(ipam.Config, p.Addr())
		if i < 0 {
			return nil, fmt.Errorf("no matching subnet for range %s", r)
		}
		if ipam.Config[i].IPRange.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", ipam.Config[i].IPRange, r, ipam.Config[i].Subnet)
		}
		ipam.Config[i].IPRange = p
	}
	for _, kv := range aux {
		k, v, _ := strings.Cut(kv, "=")
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("invalid aux-address %s: %w", kv, err)
		}
		i := containing(ipam.Config, a)
		if i < 0 {
			return nil, fmt.Errorf("no matching subnet for aux-address %s", v)
		}
		if ipam.Config[i].AuxAddress == nil {
			ipam.Config[i].AuxAddress = map[string]netip.Addr{}
		}
		ipam.Config[i].AuxAddress[k] = a
	}
	return ipam, nil
}

func containing(cfgs []network.IPAMConfig, a netip.Addr) int {
	for i, c := range cfgs {
		if c.Subnet.Contains(a) {
			return i
		}
	}
	return -1
}

func newNetworkListCommand(c *CLI) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	var filterFlags []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilterFlags(filterFlags)
			if err != nil {
				return err
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.NetworkList(cmd.Context(), client.NetworkListOptions{Filters: f})
			if err != nil {
				return err
			}
			nets := res.Items
			sort.Slice(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
			var rows []row
			for _, n := range nets {
				id := n.ID
				if !noTrunc {
					id = shortID(id)
				}
				if quiet {
					fmt.Fprintln(c.Out, id)
					continue
				}
				var ls []string
				for k, v := range n.Labels {
					ls = append(ls, k+"="+v)
				}
				sort.Strings(ls)
				rows = append(rows, row{"ID": id, "Name": n.Name, "Driver": n.Driver, "Scope": n.Scope,
					"IPv4": fmt.Sprint(n.EnableIPv4), "IPv6": fmt.Sprint(n.EnableIPv6), "Internal": fmt.Sprint(n.Internal),
					"Labels": strings.Join(ls, ","), "CreatedAt": n.Created.String()})
			}
			if quiet {
				return nil
			}
			headers := row{"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}
			return printRows(c.Out, format, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", headers, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	f.StringVar(&format, "format", "", "Format output using a custom template")
	f.StringArrayVarP(&filterFlags, "filter", "f", nil, `Provide filter values (e.g. "driver=bridge")`)
	return cmd
}

func newNetworkInspectCommand(c *CLI) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return printInspect(c, format, args, func(name string) (json.RawMessage, error) {
				res, err := cl.NetworkInspect(cmd.Context(), name, client.NetworkInspectOptions{Verbose: verbose})
				return res.Raw, err
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

func newNetworkRemoveCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			var failed []string
			for _, n := range args {
				if _, err := cl.NetworkRemove(cmd.Context(), n, client.NetworkRemoveOptions{}); err != nil {
					if force && strings.Contains(err.Error(), "not found") {
						continue
					}
					failed = append(failed, err.Error())
					continue
				}
				fmt.Fprintln(c.Out, n)
			}
			if len(failed) > 0 {
				return errors.New(strings.Join(failed, "\n"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func newNetworkPruneCommand(c *CLI) *cobra.Command {
	var force bool
	var filterFlags []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFilterFlags(filterFlags)
			if err != nil {
				return err
			}
			if !force && !confirm(c, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?") {
				return nil
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.NetworkPrune(cmd.Context(), client.NetworkPruneOptions{Filters: f})
			if err != nil {
				return err
			}
			if len(res.Report.NetworksDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Networks:")
				for _, n := range res.Report.NetworksDeleted {
					fmt.Fprintln(c.Out, n)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filterFlags, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

func newNetworkConnectCommand(c *CLI) *cobra.Command {
	var ip, ip6 string
	var aliases, links, linkLocal, driverOpts []string
	var gwPriority int
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ep := &network.EndpointSettings{Aliases: aliases, Links: links, GwPriority: gwPriority}
			if len(driverOpts) > 0 {
				ep.DriverOpts = keyValues(driverOpts)
			}
			if ip != "" || ip6 != "" || len(linkLocal) > 0 {
				ep.IPAMConfig = &network.EndpointIPAMConfig{}
				for _, p := range []struct {
					flag, v string
					dst     *netip.Addr
				}{{"ip", ip, &ep.IPAMConfig.IPv4Address}, {"ip6", ip6, &ep.IPAMConfig.IPv6Address}} {
					if p.v == "" {
						continue
					}
					a, err := netip.ParseAddr(p.v)
					if err != nil {
						return fmt.Errorf("invalid argument %q for \"--%s\" flag: %w", p.v, p.flag, err)
					}
					*p.dst = a
				}
				for _, l := range linkLocal {
					a, err := netip.ParseAddr(l)
					if err != nil {
						return fmt.Errorf("invalid argument %q for \"--link-local-ip\" flag: %w", l, err)
					}
					ep.IPAMConfig.LinkLocalIPs = append(ep.IPAMConfig.LinkLocalIPs, a)
				}
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			_, err = cl.NetworkConnect(cmd.Context(), args[0], client.NetworkConnectOptions{Container: args[1], EndpointConfig: ep})
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&ip, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	f.StringVar(&ip6, "ip6", "", "IPv6 address (e.g., \"2001:db8::33\")")
	f.StringArrayVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	f.StringArrayVar(&links, "link", nil, "Add link to another container")
	f.StringArrayVar(&linkLocal, "link-local-ip", nil, "Add a link-local address for the container")
	f.StringArrayVar(&driverOpts, "driver-opt", nil, "driver options for the network")
	f.IntVar(&gwPriority, "gw-priority", 0, "Highest gw-priority provides the default gateway. Accepts positive and negative values.")
	return cmd
}

func newNetworkDisconnectCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			_, err = cl.NetworkDisconnect(cmd.Context(), args[0], client.NetworkDisconnectOptions{Container: args[1], Force: force})
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}
