package cli

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func newPullCommand(c *CLI) *cobra.Command {
	var quiet, all bool
	disableContentTrust := true
	var platform string
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkContentTrust(cmd, disableContentTrust); err != nil {
				return err
			}
			named, err := reference.ParseNormalizedNamed(args[0])
			if err != nil {
				return fmt.Errorf("invalid reference format: %s", args[0])
			}
			if !all {
				named = reference.TagNameOnly(named)
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			opts := client.ImagePullOptions{All: all, RegistryAuth: registryAuth(named.String())}
			if platform != "" {
				p, err := parsePlatform(platform)
				if err != nil {
					return err
				}
				opts.Platforms = []ocispec.Platform{p}
			}
			res, err := cl.ImagePull(cmd.Context(), named.String(), opts)
			if err != nil {
				return err
			}
			defer res.Close()
			out := c.Out
			if quiet {
				out = discard{}
			}
			if err := displayProgress(res, out, !quiet && isTerminal(c.Out)); err != nil {
				return err
			}
			if quiet {
				fmt.Fprintln(c.Out, reference.FamiliarString(named))
			} else {
				fmt.Fprintln(c.Out, named.String())
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress verbose output")
	cmd.Flags().BoolVarP(&all, "all-tags", "a", false, "download all tagged images in the repository")
	cmd.Flags().StringVar(&platform, "platform", "", "set platform if server is multi-platform capable (os/arch[/variant])")
	contentTrustFlag(cmd, &disableContentTrust, "skip image verification (false is refused: ctl has no content trust)")
	return cmd
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// parsePlatform reads "os[/arch[/variant]]" as docker does: one component
// is an OS (on this machine's architecture) or an architecture (on this
// machine's OS), and the usual aliases (x86_64, aarch64, armhf...) are
// sent under their OCI names, so that the engine compares like with like.
func parsePlatform(v string) (ocispec.Platform, error) {
	parts := strings.Split(v, "/")
	if len(parts) > 3 {
		return ocispec.Platform{}, fmt.Errorf("%q: cannot parse platform specifier: invalid argument", v)
	}
	for _, part := range parts {
		if !platformPart(part) {
			return ocispec.Platform{}, fmt.Errorf("%q is an invalid component of %q: only letters, digits, '_', '.' and '-' may make one: invalid argument", part, v)
		}
	}
	var p ocispec.Platform
	if len(parts) == 1 {
		first := strings.ToLower(parts[0])
		switch {
		case slices.Contains(knownOS, normalizeOS(first)):
			p = ocispec.Platform{OS: normalizeOS(first), Architecture: runtime.GOARCH}
		case slices.Contains(knownArch, normalizeArch(first, "").Architecture):
			p = normalizeArch(first, "")
			p.OS = runtime.GOOS
		default:
			return ocispec.Platform{}, fmt.Errorf("%q: unknown operating system or architecture: invalid argument", v)
		}
		return p, nil
	}
	variant := ""
	if len(parts) == 3 {
		variant = parts[2]
	}
	p = normalizeArch(strings.ToLower(parts[1]), strings.ToLower(variant))
	p.OS = normalizeOS(strings.ToLower(parts[0]))
	return p, nil
}

// platformPart tells whether s is one part of a platform (letters,
// digits, "_.-"); no regexp: ctl's start-up compiles none it may not use.
func platformPart(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
	}) < 0
}

var knownOS = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}

var knownArch = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm"}

func normalizeOS(os string) string {
	if os == "macos" {
		return "darwin"
	}
	return os
}

// normalizeArch gives an architecture and variant their OCI spelling.
func normalizeArch(arch, variant string) ocispec.Platform {
	if variant != "" && variant[0] >= '0' && variant[0] <= '9' {
		variant = "v" + variant
	}
	switch arch {
	case "i386":
		arch = "386"
	case "x86_64", "x86-64", "amd64":
		arch = "amd64"
		if variant == "v1" {
			variant = ""
		}
	case "aarch64":
		arch = "arm64"
	case "armhf", "armel":
		arch = "arm"
	}
	return ocispec.Platform{Architecture: arch, Variant: variant}
}

// platformOption is a --platform value for the API: nil when not given.
func platformOption(v string) (*ocispec.Platform, error) {
	if v == "" {
		return nil, nil
	}
	p, err := parsePlatform(v)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// contentTrustFlag is docker's --disable-content-trust (default true). ctl
// verifies and signs no images: true is what it does anyway, false is
// refused by checkContentTrust rather than ignored.
func contentTrustFlag(cmd *cobra.Command, disable *bool, usage string) {
	cmd.Flags().BoolVar(disable, "disable-content-trust", true, usage)
}

func checkContentTrust(cmd *cobra.Command, disable bool) error {
	if disable {
		return nil
	}
	return withHelp(cmd, errors.New("--disable-content-trust=false: image signing and verification (content trust) is not supported"))
}
