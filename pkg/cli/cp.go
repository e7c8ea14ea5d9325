package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
)

type cpOptions struct {
	archive, followLink, quiet bool
}

func newCpCommand(c *CLI) *cobra.Command {
	var o cpOptions
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tctl cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Long: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runCp(cmd.Context(), o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	f.BoolVarP(&o.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
	return cmd
}

func (c *CLI) runCp(ctx context.Context, o cpOptions, src, dst string) error {
	srcCtr, srcPath := splitCpArg(src)
	dstCtr, dstPath := splitCpArg(dst)
	switch {
	case srcPath == "":
		return errors.New("source can not be empty")
	case dstPath == "":
		return errors.New("destination can not be empty")
	case srcCtr != "" && dstCtr != "":
		return errors.New("copying between containers is not supported")
	case srcCtr == "" && dstCtr == "":
		return errors.New("must specify at least one container source")
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	if srcCtr != "" {
		return c.cpFromContainer(ctx, cl, o, srcCtr, srcPath, dstPath)
	}
	return c.cpToContainer(ctx, cl, o, srcPath, dstCtr, dstPath)
}

// progress reports the size copied when a terminal shows it, as docker.
func (c *CLI) cpDone(o cpOptions, n int64, to string) {
	if o.quiet || !isTerminal(c.Err) {
		return
	}
	fmt.Fprintf(c.Err, "Successfully copied %s to %s\n", units.HumanSizeWithPrecision(float64(n), 3), to)
}

func (c *CLI) cpFromContainer(ctx context.Context, cl *client.Client, o cpOptions, ctr, srcPath, dstPath string) error {
	if dstPath != "-" {
		var err error
		if dstPath, err = resolveLocalPath(dstPath); err != nil {
			return err
		}
		if err := validateOutputPath(dstPath); err != nil {
			return err
		}
	}
	// -L copies what a symlink leads to, under the link's name.
	rebase := ""
	if o.followLink {
		st, err := cl.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: srcPath})
		if err == nil && st.Stat.Mode&os.ModeSymlink != 0 {
			target := st.Stat.LinkTarget
			if !filepath.IsAbs(target) {
				parent, _ := splitPathDirEntry(srcPath)
				target = filepath.Join(parent, target)
			}
			srcPath, rebase = rebaseName(srcPath, target)
		}
	}
	res, err := cl.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: srcPath})
	if err != nil {
		return err
	}
	defer res.Content.Close()
	if dstPath == "-" {
		_, err := io.Copy(c.Out, res.Content)
		return err
	}
	var content io.Reader = res.Content
	src := copyInfo{Path: srcPath, Exists: true, IsDir: res.Stat.Mode.IsDir(), RebaseName: rebase}
	if rebase != "" {
		_, base := splitPathDirEntry(srcPath)
		content = rebased(content, base, rebase)
	}
	dst, err := localDestination(dstPath)
	if err != nil {
		return err
	}
	dir, oldBase, newBase, err := prepareCopy(src, dst)
	if err != nil {
		return err
	}
	if oldBase != "" {
		content = rebased(content, oldBase, newBase)
	}
	cr := &countingReader{r: content}
	// The container's archive is hostile: pkg/archive keeps every entry
	// below dir. Local files are owned by the user running ctl, as docker.
	opts := archive.Options{Whiteouts: archive.KeepWhiteouts, NoOverwriteDirNonDir: true, Chown: &archive.Owner{UID: os.Getuid(), GID: os.Getgid()}}
	if _, err := archive.Apply(ctx, dir, cr, opts); err != nil {
		return err
	}
	c.cpDone(o, cr.n, dstPath)
	return nil
}

func (c *CLI) cpToContainer(ctx context.Context, cl *client.Client, o cpOptions, srcPath, ctr, dstPath string) error {
	if srcPath != "-" {
		var err error
		if srcPath, err = resolveLocalPath(srcPath); err != nil {
			return err
		}
	}
	dst := copyInfo{Path: dstPath}
	st, err := cl.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dstPath})
	if err == nil && st.Stat.Mode&os.ModeSymlink != 0 {
		// A symlink destination: where it leads.
		target := st.Stat.LinkTarget
		if !filepath.IsAbs(target) {
			parent, _ := splitPathDirEntry(dstPath)
			target = filepath.Join(parent, target)
		}
		dst.Path = target
		st, err = cl.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: target})
	}
	if err == nil {
		if st.Stat.Mode&(os.ModeDevice|os.ModeIrregular) != 0 {
			return fmt.Errorf("destination \"%s:%s\" must be a directory or a regular file", ctr, dstPath)
		}
		dst.Exists, dst.IsDir = true, st.Stat.Mode.IsDir()
	}
	// Any other stat error: the parent may still exist, and the
	// extraction says so if it does not.
	var content io.Reader
	var to string
	if srcPath == "-" {
		if !dst.IsDir {
			return fmt.Errorf("destination \"%s:%s\" must be a directory", ctr, dstPath)
		}
		content, to = c.In, dst.Path
	} else {
		src, err := localSource(srcPath, o.followLink)
		if err != nil {
			return err
		}
		dir, oldBase, newBase, err := prepareCopy(src, dst)
		if err != nil {
			return err
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(tarLocal(ctx, src, pw)) }()
		defer pr.Close()
		content, to = pr, dir
		if oldBase != "" {
			content = rebased(content, oldBase, newBase)
		}
	}
	cr := &countingReader{r: content}
	_, err = cl.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{
		DestinationPath: to, Content: cr, CopyUIDGID: o.archive,
	})
	if err != nil {
		return err
	}
	c.cpDone(o, cr.n, ctr+":"+dstPath)
	return nil
}

// tarLocal writes a tar of a local source named from its last entry (or
// its RebaseName): "d/", "d/f"; "./", "./f" for "d/.".
func tarLocal(ctx context.Context, src copyInfo, w io.Writer) error {
	dir, base := splitPathDirEntry(src.Path)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	name := base
	if src.RebaseName != "" {
		name = src.RebaseName
	}
	return archive.WriteTree(ctx, w, fd, base, name)
}

func rebased(r io.Reader, oldBase, newBase string) io.Reader {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rebaseEntries(r, pw, oldBase, newBase)) }()
	return pr
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// validateOutputPath: the destination's directory exists, and the
// destination, if it exists, is a directory or a regular file.
func validateOutputPath(p string) error {
	dir := filepath.Dir(filepath.Clean(p))
	if dir != "" && dir != "." {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("invalid output path: directory %q does not exist", dir)
		}
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&(os.ModeDevice|os.ModeIrregular) != 0 {
		return fmt.Errorf("invalid output path: %q must be a directory or a regular file", p)
	}
	return nil
}
