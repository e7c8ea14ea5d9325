package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/archive"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/snapshots"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// exportChunk is the size of the data messages Export sends.
const exportChunk = 1 << 20

// Export streams a tar of the merged view of a snapshot (`docker export`).
// The snapshot may be in use by a running container, so its own mounts are
// not reused: overlay refuses a second mount on an upperdir in use. Instead
// the upper directory becomes the top lower layer of a read-only overlay,
// which shows the same merged tree, whiteouts applied.
func (ss *snapshotsService) Export(req *pb.ExportSnapshotRequest, stream pb.Snapshots_ExportServer) error {
	ctx := stream.Context()
	mounts, err := ss.s.snaps.Mounts(ctx, req.Key)
	if err != nil {
		return fmt.Errorf("export snapshot %s: %w", req.Key, err)
	}
	ro, err := readOnlyMounts(mounts)
	if err != nil {
		return fmt.Errorf("export snapshot %s: %w", req.Key, err)
	}
	dir, err := os.MkdirTemp("", "bx-export")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := snapshots.MountAll(ro, dir); err != nil {
		return fmt.Errorf("export snapshot %s: %w", req.Key, err)
	}
	defer snapshots.Unmount(dir)
	w := &chunkWriter{send: func(b []byte) error { return stream.Send(&pb.ExportSnapshotResponse{Data: b}) }, buf: make([]byte, 0, exportChunk)}
	rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("export snapshot %s: %w", req.Key, err)
	}
	defer unix.Close(rootfd)
	// The whole tree, or the path's last component (not followed) and what
	// is below it, named from that component.
	parent, name, prefix := rootfd, ".", ""
	if clean := path.Clean("/" + req.Path); clean != "/" {
		dir, base := path.Split(clean)
		if parent, err = archive.OpenInRoot(rootfd, dir, true); err != nil {
			return fmt.Errorf("export snapshot %s path %s: %w", req.Key, req.Path, err)
		}
		defer unix.Close(parent)
		name, prefix = base, base
	}
	if err := archive.WriteTree(ctx, w, parent, name, prefix); err != nil {
		if errors.Is(err, unix.ENOENT) {
			err = fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
		}
		return fmt.Errorf("export snapshot %s: %w", req.Key, err)
	}
	return w.flush()
}

// readOnlyMounts turns an active snapshot's mounts into a read-only view.
func readOnlyMounts(ms []snapshots.Mount) ([]snapshots.Mount, error) {
	var out []snapshots.Mount
	for _, m := range ms {
		if m.Type != "overlay" {
			opts := []string{"ro"}
			for _, o := range m.Options {
				if o != "rw" && o != "ro" {
					opts = append(opts, o)
				}
			}
			out = append(out, snapshots.Mount{Type: m.Type, Source: m.Source, Options: opts})
			continue
		}
		var upper string
		var lowers []string
		var rest []string
		plus := false
		for _, o := range m.Options {
			switch {
			case strings.HasPrefix(o, "upperdir="):
				upper = strings.TrimPrefix(o, "upperdir=")
			case strings.HasPrefix(o, "workdir="), o == "rw", o == "ro":
			case strings.HasPrefix(o, "lowerdir="):
				lowers = append(lowers, strings.Split(strings.TrimPrefix(o, "lowerdir="), ":")...)
			case strings.HasPrefix(o, "lowerdir+="):
				plus = true
				lowers = append(lowers, strings.TrimPrefix(o, "lowerdir+="))
			default:
				rest = append(rest, o)
			}
		}
		if upper != "" {
			lowers = append([]string{upper}, lowers...)
		}
		if len(lowers) == 0 {
			return nil, errors.New("overlay mount without layers")
		}
		opts := append([]string{"ro"}, rest...)
		if len(lowers) == 1 {
			// overlay needs two lowers without an upper: bind the only one.
			out = append(out, snapshots.Mount{Type: "bind", Source: lowers[0], Options: []string{"ro", "rbind"}})
			continue
		}
		if joined := strings.Join(lowers, ":"); !plus && len(joined) < 3800 {
			opts = append(opts, "lowerdir="+joined)
		} else {
			for _, l := range lowers {
				opts = append(opts, "lowerdir+="+l)
			}
		}
		out = append(out, snapshots.Mount{Type: "overlay", Source: "overlay", Options: opts})
	}
	return out, nil
}

// chunkWriter sends what is written in messages of up to exportChunk bytes.
type chunkWriter struct {
	send func([]byte) error
	buf  []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(cap(c.buf)-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.send(c.buf)
	c.buf = c.buf[:0]
	return err
}
