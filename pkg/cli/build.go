package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"archive/tar"
	"compress/gzip"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
)

func newBuildCommand(c *CLI) *cobra.Command {
	var (
		tags, buildArgs, labels []string
		secrets, cacheFrom      []string
		file, target, network   string
		iidfile, platform       string
		noCache, pull, quiet    bool
		rm, forceRm             bool
		// What each RUN step's container gets, as `run`'s flags of
		// the same names (the engine applies them per step).
		extraHosts, securityOpt              listValue
		ulimits                              ulimitValue
		memory, memorySwap, shm              bytesValue
		cpuShares, cpuPeriod, cpuQuota       int64
		cpusetCpus, cpusetMems, cgroupParent string
		isolation                            string
		compress, squash                     bool
		disableContentTrust                  bool
	)
	extraHosts.check = checkExtraHost
	memorySwap.withMinusOne = true
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | -",
		Short: "Build an image from a Dockerfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !disableContentTrust {
				return withHelp(cmd, errors.New("--disable-content-trust=false: image signature verification (content trust) is not supported"))
			}
			o := client.ImageBuildOptions{Tags: tags, Dockerfile: file, Target: target, NetworkMode: network, NoCache: noCache,
				PullParent: pull, SuppressOutput: quiet, Remove: rm, ForceRemove: forceRm, BuildArgs: map[string]*string{}, Labels: map[string]string{},
				CacheFrom:  cacheFrom,
				ExtraHosts: extraHosts.values, SecurityOpt: securityOpt.values, Ulimits: ulimits.list(),
				Memory: memory.n, MemorySwap: memorySwap.n, ShmSize: shm.n,
				CPUShares: cpuShares, CPUPeriod: cpuPeriod, CPUQuota: cpuQuota, CPUSetCPUs: cpusetCpus, CPUSetMems: cpusetMems,
				CgroupParent: cgroupParent, Isolation: container.Isolation(isolation), Squash: squash}
			for _, kv := range buildArgs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					// As docker: the value comes from ctl's environment.
					if ev, set := os.LookupEnv(k); set {
						o.BuildArgs[k] = &ev
					} else {
						o.BuildArgs[k] = nil
					}
					continue
				}
				o.BuildArgs[k] = &v
			}
			for _, kv := range labels {
				k, v, _ := strings.Cut(kv, "=")
				o.Labels[k] = v
			}
			if platform != "" {
				p, err := parsePlatform(platform)
				if err != nil {
					return err
				}
				o.Platforms = append(o.Platforms, p)
			}
			if len(secrets) > 0 {
				sec, err := parseBuildSecrets(secrets)
				if err != nil {
					return err
				}
				h, err := encodeBuildSecrets(sec)
				if err != nil {
					return err
				}
				c.headers = map[string]string{buildSecretsHeader: h}
			}
			body, dockerfile, err := buildContext(cmd.Context(), args[0], file, c.In)
			if err != nil {
				return err
			}
			defer body.Close()
			if compress {
				body = gzipStream(body)
				defer body.Close()
			}
			o.Dockerfile = dockerfile
			cl, err := c.Client()
			if err != nil {
				return err
			}
			res, err := cl.ImageBuild(cmd.Context(), body, o)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			id, err := showBuild(res.Body, c.Out, quiet)
			if err != nil {
				return err
			}
			if quiet {
				fmt.Fprintln(c.Out, id)
			}
			if iidfile != "" {
				if err := os.WriteFile(iidfile, []byte(id), 0o644); err != nil {
					return fmt.Errorf("write image ID to %s: %w", iidfile, err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&tags, "tag", "t", nil, `Name and optionally a tag in the "name:tag" format`)
	f.StringVarP(&file, "file", "f", "", `Name of the Dockerfile (Default is "PATH/Dockerfile"; "-" reads it from stdin)`)
	f.StringArrayVar(&buildArgs, "build-arg", nil, "Set build-time variables")
	f.StringArrayVar(&labels, "label", nil, "Set metadata for an image")
	f.StringSliceVar(&cacheFrom, "cache-from", nil, "Images to consider as cache sources")
	f.StringArrayVar(&secrets, "secret", nil, `Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")`)
	f.StringVar(&target, "target", "", "Set the target build stage to build.")
	f.StringVar(&network, "network", "default", `Set the networking mode for the "RUN" instructions during build`)
	f.StringVar(&iidfile, "iidfile", "", "Write the image ID to the file")
	f.StringVar(&platform, "platform", "", "Set platform if server is multi-platform capable")
	f.BoolVar(&noCache, "no-cache", false, "Do not use cache when building the image")
	f.BoolVar(&pull, "pull", false, "Always attempt to pull a newer version of the image")
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	f.BoolVar(&rm, "rm", true, "Remove intermediate containers after a successful build")
	f.BoolVar(&forceRm, "force-rm", false, "Always remove intermediate containers")
	f.Var(&extraHosts, "add-host", `Add a custom host-to-IP mapping ("host:ip")`)
	f.StringVar(&cgroupParent, "cgroup-parent", "", `Set the parent cgroup for the "RUN" instructions during build`)
	f.BoolVar(&compress, "compress", false, "Compress the build context using gzip")
	f.Int64Var(&cpuPeriod, "cpu-period", 0, "Limit the CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&cpuQuota, "cpu-quota", 0, "Limit the CPU CFS (Completely Fair Scheduler) quota")
	f.Int64VarP(&cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.BoolVar(&disableContentTrust, "disable-content-trust", true, "Skip image verification")
	f.StringVar(&isolation, "isolation", "", "Container isolation technology")
	f.VarP(&memory, "memory", "m", "Memory limit")
	f.Var(&memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	f.Var(&securityOpt, "security-opt", "Security options")
	f.Var(&shm, "shm-size", `Size of "/dev/shm"`)
	f.BoolVar(&squash, "squash", false, "Squash newly built layers into a single new layer (refused: the classic builder here does not squash)")
	f.Var(&ulimits, "ulimit", "Ulimit options")
	return cmd
}

// gzipStream is r gzipped as it is read (build --compress: a smaller
// context on a slow connection to the engine, which detects the gzip).
func gzipStream(r io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, r)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		r.Close()
		pw.CloseWithError(err)
	}()
	return pr
}

// buildContext returns the context tar to send and the Dockerfile's name
// in it. PATH "-" is a tar on stdin. A Dockerfile outside the context (or
// "-f -", read from stdin) is added to the tar under a name of its own, as
// the docker CLI does; the engine applies .dockerignore.
func buildContext(ctx context.Context, dir, file string, stdin io.Reader) (io.ReadCloser, string, error) {
	if dir == "-" {
		if file == "-" {
			return nil, "", errors.New("invalid argument: can't use stdin for both build context and dockerfile")
		}
		return io.NopCloser(stdin), file, nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, "", fmt.Errorf("unable to prepare context: %w", err)
	}
	if !st.IsDir() {
		return nil, "", fmt.Errorf("unable to prepare context: path %q is not a directory", dir)
	}
	var extra []byte
	name := file
	switch {
	case file == "-":
		if extra, err = io.ReadAll(stdin); err != nil {
			return nil, "", err
		}
	case file != "":
		abs, _ := filepath.Abs(file)
		if !filepath.IsAbs(file) {
			// -f is relative to the current directory, as docker reads it.
			abs, _ = filepath.Abs(file)
		}
		ctxAbs, _ := filepath.Abs(dir)
		if rel, err := filepath.Rel(ctxAbs, abs); err == nil && !strings.HasPrefix(rel, "..") {
			name = filepath.ToSlash(rel)
			break
		}
		if extra, err = os.ReadFile(file); err != nil {
			return nil, "", fmt.Errorf("unable to prepare context: %w", err)
		}
	}
	if extra != nil {
		b := make([]byte, 8)
		rand.Read(b)
		name = ".dockerfile." + hex.EncodeToString(b)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("unable to prepare context: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		defer unix.Close(fd)
		pw.CloseWithError(writeBuildContext(ctx, pw, fd, name, extra))
	}()
	return pr, name, nil
}

// writeBuildContext writes the directory fd as a tar, then the extra
// Dockerfile (if any) under name.
func writeBuildContext(ctx context.Context, w io.Writer, fd int, name string, extra []byte) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteTree(ctx, pw, fd, ".", "")) }()
	tw := tar.NewWriter(w)
	tr := tar.NewReader(pr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	if extra != nil {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(extra)), Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
			return err
		}
		if _, err := tw.Write(extra); err != nil {
			return err
		}
	}
	return tw.Close()
}

// showBuild prints the build stream compactly: each step on one line
// with the time it took (or CACHED), the output of a RUN step indented
// below its line. It returns the image ID; a failed step's error carries
// its exit code (ctl exits with it, as docker does).
func showBuild(in io.Reader, out io.Writer, quiet bool) (string, error) {
	dec := json.NewDecoder(in)
	var id string
	var st buildStep
	for {
		var m struct {
			jsonstream.Message
			ErrorText string `json:"error"` // the older form, without errorDetail
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			st.end(out)
			if id == "" {
				return "", errors.New("the build ended without an image ID")
			}
			return id, nil
		} else if err != nil {
			return "", err
		}
		if m.Error != nil || m.ErrorText != "" {
			st.end(out)
			msg, code := m.ErrorText, 1
			if m.Error != nil {
				if m.Error.Message != "" {
					msg = m.Error.Message
				}
				if m.Error.Code != 0 {
					code = m.Error.Code
				}
			}
			return "", &StatusError{Code: code, Msg: msg}
		}
		if m.Aux != nil {
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		}
		if quiet || m.Stream == "" {
			continue
		}
		for _, line := range strings.SplitAfter(m.Stream, "\n") {
			st.line(out, strings.TrimRight(line, "\n"))
		}
	}
}

// buildStep is the step being shown.
type buildStep struct {
	title   string
	started time.Time
	cached  bool
	shown   bool // the title is printed (output followed it)
}

func (s *buildStep) line(out io.Writer, text string) {
	switch {
	case text == "":
	case strings.HasPrefix(text, "Step "):
		s.end(out)
		n, instr, _ := strings.Cut(strings.TrimPrefix(text, "Step "), " : ")
		*s = buildStep{title: "[" + n + "] " + instr, started: time.Now()}
	case text == " ---> Using cache":
		s.cached = true
	case strings.HasPrefix(text, " ---> "), strings.HasPrefix(text, "Removing intermediate container"):
	case strings.HasPrefix(text, "Successfully "):
		s.end(out)
		fmt.Fprintln(out, text)
	case s.title != "":
		if !s.shown {
			fmt.Fprintln(out, s.title)
			s.shown = true
		}
		fmt.Fprintf(out, "    %s\n", text)
	default:
		fmt.Fprintln(out, text)
	}
}

// end prints the step's line with its time.
func (s *buildStep) end(out io.Writer) {
	if s.title == "" {
		return
	}
	took := fmt.Sprintf("%.2fs", time.Since(s.started).Seconds())
	if s.cached {
		took = "CACHED"
	}
	if s.shown {
		fmt.Fprintf(out, "    done %s\n", took)
	} else {
		fmt.Fprintf(out, "%s  %s\n", s.title, took)
	}
	*s = buildStep{}
}
