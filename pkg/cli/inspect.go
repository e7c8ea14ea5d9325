package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// inspectTypes are the objects `inspect` looks for, in docker's order.
var inspectTypes = []string{"container", "image", "network", "volume"}

// swarmTypes are docker's other object types: berth has no swarm mode
// and no plugins, so none exists.
var swarmTypes = []string{"config", "node", "plugin", "secret", "service", "task"}

func newInspectCommand(c *CLI) *cobra.Command {
	var format, typ string
	var size bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on containers, images, networks and volumes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			types := inspectTypes
			switch {
			case typ == "":
			case slices.Contains(inspectTypes, typ):
				types = []string{typ}
			case slices.Contains(swarmTypes, typ):
				return fmt.Errorf("inspect --type %s: berth has no swarm mode (configs, nodes, secrets, services, tasks) and no plugins", typ)
			default:
				all := slices.Sorted(slices.Values(append(slices.Clone(inspectTypes), swarmTypes...)))
				return fmt.Errorf("unknown type: %q: must be one of \"%s\"", typ, strings.Join(all, `", "`))
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return printInspectOf(c, format, args, func(ref string) (json.RawMessage, string, error) {
				for _, t := range types {
					raw, err := inspectObject(cmd.Context(), cl, t, ref, size)
					if err == nil || !cerrdefs.IsNotFound(err) {
						return raw, t, err
					}
					if typ != "" {
						return nil, t, err
					}
				}
				return nil, "", fmt.Errorf("Error: No such object: %s", ref)
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&format, "format", "f", "", "format the output using the given Go template, or 'json'")
	f.BoolVarP(&size, "size", "s", false, "display total file sizes if the type is container")
	f.StringVar(&typ, "type", "", "only inspect objects of the given type (container, image, network, volume)")
	return cmd
}

// newContainerInspectCommand is `container inspect`: containers only.
func newContainerInspectCommand(c *CLI) *cobra.Command {
	var format string
	var size bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return printInspectOf(c, format, args, func(id string) (json.RawMessage, string, error) {
				raw, err := inspectObject(cmd.Context(), cl, "container", id, size)
				return raw, "container", err
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output using the given Go template, or 'json'")
	cmd.Flags().BoolVarP(&size, "size", "s", false, "display total file sizes")
	return cmd
}

// inspectObject is the API's JSON document of the object ref of type typ
// (size: a container's SizeRw and SizeRootFs too).
func inspectObject(ctx context.Context, cl *client.Client, typ, ref string, size bool) (json.RawMessage, error) {
	switch typ {
	case "container":
		res, err := cl.ContainerInspect(ctx, ref, client.ContainerInspectOptions{Size: size})
		return res.Raw, err
	case "image":
		var raw bytes.Buffer
		_, err := cl.ImageInspect(ctx, ref, client.ImageInspectWithRawResponse(&raw))
		return raw.Bytes(), err
	case "network":
		res, err := cl.NetworkInspect(ctx, ref, client.NetworkInspectOptions{})
		return res.Raw, err
	default:
		res, err := cl.VolumeInspect(ctx, ref, client.VolumeInspectOptions{})
		return res.Raw, err
	}
}

// printInspect prints the objects get returns for ids as docker's inspect
// commands do: an indented JSON array, the array on one line (-f json),
// or the template applied to each (see execInspect). The errors of the
// ids that failed come last, after the others were printed.
func printInspect(c *CLI, format string, ids []string, get func(string) (json.RawMessage, error)) error {
	return printInspectOf(c, format, ids, func(id string) (json.RawMessage, string, error) {
		raw, err := get(id)
		return raw, "", err
	})
}

// printInspectOf is printInspect for objects whose type get tells
// ("container", "image", "network", "volume"; "" for another).
func printInspectOf(c *CLI, format string, ids []string, get func(string) (json.RawMessage, string, error)) error {
	var tmpl *template.Template
	if format != "" && format != "json" {
		var err error
		if tmpl, err = template.New("").Funcs(templateFuncs).Option("missingkey=error").Parse(format); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
	}
	out := []json.RawMessage{}
	var failed []string
	for _, id := range ids {
		raw, typ, err := get(id)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		if tmpl == nil {
			out = append(out, raw)
			continue
		}
		s, err := execInspect(tmpl, raw, typ)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		fmt.Fprintln(c.Out, s)
	}
	if tmpl == nil {
		data, err := json.Marshal(out)
		if err != nil {
			return err
		}
		if format == "json" {
			fmt.Fprintln(c.Out, string(data))
			return joinFailed(failed)
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, data, "", "    "); err != nil {
			return err
		}
		fmt.Fprintln(c.Out, buf.String())
	}
	return joinFailed(failed)
}

// inspectTyped makes the API type of an object type, which a template
// sees first, as docker's does: its fields keep their Go kinds, so
// `eq .State.ExitCode 0` compares ints.
// (nil for another type).
func inspectTyped(typ string) any {
	switch typ {
	case "container":
		return new(container.InspectResponse)
	case "image":
		return new(image.InspectResponse)
	case "network":
		return new(network.Inspect)
	case "volume":
		return new(volume.Volume)
	}
	return nil
}

// execInspect applies tmpl to the object raw of type typ: to its API type
// first, then, where that fails (a field the type lacks, such as a key the
// engine added), to the JSON document itself with its numbers kept
// whole (2060288, not 2.060288e+06).
func execInspect(tmpl *template.Template, raw json.RawMessage, typ string) (string, error) {
	var buf bytes.Buffer
	if v := inspectTyped(typ); v != nil {
		if json.Unmarshal(raw, v) == nil && tmpl.Execute(&buf, v) == nil {
			return buf.String(), nil
		}
		buf.Reset()
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	if err := tmpl.Execute(&buf, v); err != nil {
		return "", fmt.Errorf("template parsing error: %w", err)
	}
	return buf.String(), nil
}

// joinFailed is the error of the objects that could not be had.
func joinFailed(failed []string) error {
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "\n"))
	}
	return nil
}
