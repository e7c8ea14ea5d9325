package oci

import (
	"bytes"
	"io"
	"slices"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
)

// Accounts are a container's own /etc/passwd and /etc/group, as read from
// its root filesystem (through the supervisor); nil when the file does not
// exist.
type Accounts struct {
	Passwd, Group []byte
}

// ResolveUser turns a docker user spec ("", "name", "uid", "name:group",
// "uid:gid", and the mixed forms) and the --group-add list into the
// process's user, as dockerd does: names are looked up in the container's
// accounts; a numeric uid or gid needs no entry; without a group the
// user's primary group from passwd is used (0 when there is no entry) and
// the groups listing the user become supplementary groups, after the
// primary one; --group-add names and ids are added after those.
// A name that is not found is an InvalidArgument error with dockerd's
// message ("unable to find user NAME: no matching entries in passwd file").
func ResolveUser(spec string, groupAdd []string, acc Accounts) (specs.User, error) {
	eu, err := user.GetExecUser(spec, nil, reader(acc.Passwd), reader(acc.Group))
	if err != nil {
		return specs.User{}, invalidUser{err}
	}
	u := specs.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid), AdditionalGids: []uint32{uint32(eu.Gid)}}
	for _, g := range eu.Sgids {
		u.AdditionalGids = appendNew(u.AdditionalGids, uint32(g))
	}
	if len(groupAdd) > 0 {
		added, err := user.GetAdditionalGroups(groupAdd, reader(acc.Group))
		if err != nil {
			return specs.User{}, invalidUser{err}
		}
		// The library returns them in map order: sort for a stable spec.
		slices.Sort(added)
		for _, g := range added {
			u.AdditionalGids = appendNew(u.AdditionalGids, uint32(g))
		}
	}
	return u, nil
}

func appendNew(s []uint32, v uint32) []uint32 {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// reader is nil for a missing file: the library then accepts numeric ids
// only, as dockerd does for an image without /etc/passwd.
func reader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}

// invalidUser keeps the library's message, which is dockerd's, and makes
// the error an InvalidArgument (400).
type invalidUser struct{ err error }

func (e invalidUser) Error() string { return e.err.Error() }
func (e invalidUser) Unwrap() []error {
	return []error{e.err, errdefs.ErrInvalidArgument}
}
