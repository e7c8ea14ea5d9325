package containers

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/engine/oci"
	"github.com/berthd/berth/pkg/errdefs"
)

// SnapshotFiles reads files of a container's or an image's filesystem
// through the supervisor: the engine never mounts a root filesystem itself.
type SnapshotFiles interface {
	// ReadSnapshotFile returns the regular file at path inside the
	// snapshot key, resolved inside its root; NotFound when it does not
	// exist, FailedPrecondition when it is not a regular file or is larger
	// than maxBytes.
	ReadSnapshotFile(ctx context.Context, key, path string, maxBytes int64) ([]byte, error)
}

func (r *Remote) ReadSnapshotFile(ctx context.Context, key, path string, maxBytes int64) ([]byte, error) {
	return r.C.ReadSnapshotFile(ctx, key, path, maxBytes)
}

// maxAccountsFile is the largest /etc/passwd or /etc/group read: far more
// than any real one, and a hostile image's costs no more memory than this.
const maxAccountsFile = 1 << 20

// accounts reads /etc/passwd and /etc/group of the snapshot key (an image's
// chain ID at create, the container's own key at exec). A missing file is
// not an error: numeric ids need none, as with dockerd. key "" is an image
// without layers: no files.
func (d *Daemon) accounts(ctx context.Context, key string) (oci.Accounts, error) {
	var acc oci.Accounts
	if key == "" {
		return acc, nil
	}
	for _, f := range []struct {
		path string
		dst  *[]byte
	}{{"/etc/passwd", &acc.Passwd}, {"/etc/group", &acc.Group}} {
		b, err := d.sup.ReadSnapshotFile(ctx, key, f.path, maxAccountsFile)
		switch {
		case errdefs.IsNotFound(err):
			continue
		case errdefs.IsFailedPrecondition(err):
			// A directory, a device or a huge file: the image's fault.
			return acc, &msgError{msg: fmt.Sprintf("unable to read %s of the container: %v", f.path, err), class: errdefs.ErrInvalidArgument}
		case err != nil:
			return acc, fmt.Errorf("read %s of the container: %w", f.path, err)
		}
		if b == nil {
			b = []byte{} // present but empty: not the same as missing
		}
		*f.dst = b
	}
	return acc, nil
}

// execUser resolves an exec's -u in the container's own files, with the
// container's --group-add, as dockerd does.
func (d *Daemon) execUser(ctx context.Context, c *Container, spec string) (specs.User, error) {
	acc, err := d.accounts(ctx, c.ID)
	if err != nil {
		return specs.User{}, err
	}
	c.mu.Lock()
	var groupAdd []string
	if c.HostConfig != nil {
		groupAdd = c.HostConfig.GroupAdd
	}
	c.mu.Unlock()
	return oci.ResolveUser(spec, groupAdd, acc)
}
