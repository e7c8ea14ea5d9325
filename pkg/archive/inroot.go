package archive

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	// containerd's classes, which pkg/errdefs's are, without its gRPC mapping:
	// ctl links this package, and gRPC's and protobuf's inits cost its start-up.
	errdefs "github.com/containerd/errdefs"
)

// maxLinks is how many symlinks one lookup may cross, as the kernel's
// limit (40) would let through a few times over; more is a loop.
const maxLinks = 255

// MkdirAllInRoot opens (O_PATH) the directory p below the directory fd
// root, creating what is missing (0755) one component at a time, each
// resolved inside root: a symlink on the way is followed, but never out.
func MkdirAllInRoot(root int, p string) (int, error) {
	cur := ""
	for _, c := range strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/") {
		if c == "" {
			continue
		}
		pfd, err := OpenInRoot(root, cur, true)
		if err != nil {
			return -1, err
		}
		err = unix.Mkdirat(pfd, c, 0o755)
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("mkdir %s: %w", path.Join("/", cur, c), err)
		}
		cur = path.Join(cur, c)
	}
	return OpenInRoot(root, cur, true)
}

// FollowInRoot is where p leads below the directory fd root, every
// symlink followed as the kernel would with root as "/"; a missing
// component ends the walk, and the rest is joined as it is (a dangling
// link's target). The answer is a clean absolute path in root.
func FollowInRoot(root int, p string) (string, error) {
	cur := "/"
	rest := splitPath(p)
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fd, err := OpenInRoot(root, next, false)
		if errdefs.IsNotFound(err) {
			return path.Join(append([]string{next}, rest...)...), nil
		}
		if err != nil {
			return "", err
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		var target string
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err = readlinkat(fd, "")
		}
		unix.Close(fd)
		if err != nil {
			return "", fmt.Errorf("%s: %w", next, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links: %w", p, errdefs.ErrInvalidArgument)
		}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		rest = append(splitPath(target), rest...)
	}
	return cur, nil
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// chmodNoFollow sets the mode of base in pfd, never through a symlink
// that something swapped in since it was made (a running container may).
func chmodNoFollow(pfd int, base string, mode uint32) error {
	err := unix.Fchmodat(pfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
		return err
	}
	// No fchmodat2 (before Linux 6.6): chmod what an O_NOFOLLOW open holds.
	fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return fmt.Errorf("%s: became a symlink: %w", base, errdefs.ErrConflict)
	}
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
}
