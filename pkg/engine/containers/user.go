package containers

import (
	"context"
	"fmt"
	"sync"

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

// imageAccounts is accounts for an image's snapshot, by chain ID, kept in
// memory: a committed snapshot never changes (its chain ID is its content),
// and the two reads through supervisord were 1.5 to 3 ms of every create.
func (d *Daemon) imageAccounts(ctx context.Context, chainID string) (oci.Accounts, error) {
	if acc, ok := d.acct.get(chainID); ok {
		return acc, nil
	}
	acc, err := d.accounts(ctx, chainID)
	if err == nil {
		d.acct.put(chainID, acc)
	}
	return acc, err
}

// accountsCache holds images' account files by chain ID. Bounded: past
// maxCachedAccounts images it starts again from empty (a few MB at most,
// each file being at most maxAccountsFile and usually a few hundred bytes).
type accountsCache struct {
	mu sync.Mutex
	m  map[string]oci.Accounts
}

const maxCachedAccounts = 256

func (c *accountsCache) get(key string) (oci.Accounts, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	acc, ok := c.m[key]
	return acc, ok
}

func (c *accountsCache) put(key string, acc oci.Accounts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedAccounts {
		c.m = make(map[string]oci.Accounts)
	}
	c.m[key] = acc
}

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
