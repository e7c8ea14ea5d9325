// runtime-init is the container side of the berth runtime: the process
// that becomes a container's init, or a process exec'd into a running
// container, and sets it up from inside before executing the container's
// program. It is a small static C program installed next to the runtime
// (bin/runtime-init) and always executed from a protected fd (a read-only
// overlay or a sealed memfd copy, CVE-2019-5736), since it runs inside the
// container.
//
// The runtime, a Go program, plans everything it can (mount options and
// their fallbacks, capability sets, the seccomp program, hooks' input) and
// sends the plan on fd 3 in the wire form of pkg/runtime/initplan; this
// program carries the operations out in order. Being C it starts in a
// fraction of a millisecond, where a second Go start-up of the runtime
// cost 1.5 to 2 ms per container (docs/runtime.md, "The container-side
// stage").
//
// argv[1] is "init" or "exec". Before reading the plan it may first join
// namespaces, which a multi-threaded Go program cannot do:
//
//   - _BERTH_NSENTER=<pid of the container's init> (`runtime exec`): join
//     every namespace of that pid that differs from ours, user first and
//     mount last, chroot into the container's root when joining the mount
//     namespace did not put us there, then fork so that the child is in the
//     pid namespace too.
//   - _BERTH_JOIN="user=PATH\npid=PATH\n..." (`runtime create` when the
//     config joins a user, pid, time or mount namespace by path): join them
//     (user first, mount last), unshare the new namespaces of _BERTH_UNSHARE
//     (clone flags, made here so that they belong to a joined user
//     namespace), then fork so the child is in the pid and time namespaces.
//
// After such a fork the parent writes {"type":"pid","pid":N} to fd 3 and
// exits. Messages to the runtime on fd 3 are JSON lines: {"type":"warn",
// "msg":...}, {"type":"error","msg":...}, {"type":"hooks"} (the runtime
// answers "ack\n" or "error MSG\n") and {"type":"ready","spans":[...]}.
// After "ready" fd 3 is closed and errors go to stderr.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC (1UL << 0)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* The operations of pkg/runtime/initplan (TestCodesMatchC). */
enum {
	OP_SETNS = 1,
	OP_UNSHARE = 2,
	OP_WRITE = 3,
	OP_KEYRING = 4,
	OP_OOM_SCORE_ADJ = 5,
	OP_MOUNT = 10,
	OP_SET_ROOT = 11,
	OP_MK_TARGET = 12,
	OP_MKNOD = 13,
	OP_SYMLINK = 14,
	OP_MKDIR_ALL = 15,
	OP_SET_ATTR = 16,
	OP_REMOUNT = 17,
	OP_PTMX = 18,
	OP_HOOK_SYNC = 19,
	OP_HOOK = 20,
	OP_PIVOT = 21,
	OP_CHROOT = 22,
	OP_STAT_ROOTFS = 23,
	OP_READONLY_PATH = 24,
	OP_MASK_PATH = 25,
	OP_ROOT_READONLY = 26,
	OP_PRIVATE_PARENT = 27,
	OP_SETHOSTNAME = 30,
	OP_SETDOMAINNAME = 31,
	OP_CONSOLE = 32,
	OP_RLIMIT = 33,
	OP_SECCOMP = 34,
	OP_CAPS_USER = 35,
	OP_NO_NEW_PRIVS = 36,
	OP_UMASK = 37,
	OP_CHDIR = 38,
	OP_LOOK_PATH = 39,
	OP_READY = 40,
	OP_FIFO = 41,
	OP_MOVE_FDS = 42,
	OP_RESET_SIGNALS = 43,
	OP_EXEC = 44,
	OP_SPAN = 45,
	OP_OPEN_PROC = 46,
	OP_LOOPBACK_UP = 47,
	OP_AWAIT_CGROUPS = 48,
};

enum {
	F_IN_ROOT = 1,
	F_OR_ELSE = 2,
	F_BEST_EFFORT = 4,
};

#define MAX_ARGS 12

struct arg {
	int kind; /* 1 int, 2 string, 3 list */
	int64_t i;
	const char *s;
	uint32_t len;
	char **list;
	uint32_t count;
};

struct op {
	uint16_t code, flags, n;
	struct arg a[MAX_ARGS];
};

/* ---- reporting ---------------------------------------------------------- */

static int sync_fd = 3;
static int ready;                          /* after OP_READY: errors to stderr */
static const char *prefix = "berth init"; /* for errors after ready */

/* errstr is errno's text as Go prints it (lower case first letter). */
static const char *errstr(int e) {
	static char buf[128];
	snprintf(buf, sizeof(buf), "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

/* Appends s to dst (capacity n, used *o) as the inside of a JSON string. */
static void json_append(char *dst, size_t n, size_t *o, const char *s) {
	for (; *s != '\0' && *o + 8 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			dst[(*o)++] = '\\';
			dst[(*o)++] = (char)c;
		} else if (c < 0x20) {
			*o += (size_t)snprintf(dst + *o, n - *o, "\\u%04x", c);
		} else {
			dst[(*o)++] = (char)c;
		}
	}
	dst[*o] = '\0';
}

static void write_all(int fd, const char *b, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		b += w;
		n -= (size_t)w;
	}
}

static void send_msg(const char *type, const char *msg) {
	char buf[8192];
	size_t o = 0;
	o += (size_t)snprintf(buf, sizeof(buf), "{\"type\":\"%s\"", type);
	if (msg != NULL) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"msg\":\"");
		json_append(buf, sizeof(buf) - 4, &o, msg);
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\"");
	}
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "}\n");
	write_all(sync_fd, buf, o);
}

static void warnf(const char *fmt, ...) {
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ready) {
		fprintf(stderr, "%s: warning: %s\n", prefix, msg);
		return;
	}
	send_msg("warn", msg);
}

static void __attribute__((noreturn)) failf(const char *fmt, ...) {
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* After ready, or without a sync socket (not started by the runtime),
	 * the message goes to stderr. */
	if (ready || fcntl(sync_fd, F_GETFD) < 0) {
		fprintf(stderr, "%s: %s\n", prefix, msg);
		_exit(1);
	}
	send_msg("error", msg);
	_exit(1);
}

/* ---- spans -------------------------------------------------------------- */

struct span {
	const char *name;
	int64_t start, dur;
};
static struct span spans[24];
static int nspans;
static int64_t entered;

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* OP_SPAN: end 0 begins name, 1 ends it, 2 records it from main's start. */
static void span(const char *name, int64_t end) {
	int64_t t = now_ns();
	if (end == 0) {
		if (nspans < (int)(sizeof(spans) / sizeof(spans[0])))
			spans[nspans++] = (struct span){name, t, -1};
		return;
	}
	if (end == 2) {
		if (nspans < (int)(sizeof(spans) / sizeof(spans[0])))
			spans[nspans++] = (struct span){name, entered, t - entered};
		return;
	}
	for (int i = nspans - 1; i >= 0; i--) {
		if (spans[i].dur < 0 && strcmp(spans[i].name, name) == 0) {
			spans[i].dur = t - spans[i].start;
			return;
		}
	}
}

static void send_ready(void) {
	char buf[8192];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "{\"type\":\"ready\"");
	int first = 1;
	for (int i = 0; i < nspans; i++) {
		if (spans[i].dur < 0)
			continue;
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"runtime|init: ", first ? ",\"spans\":[" : ",");
		json_append(buf, sizeof(buf) - 64, &o, spans[i].name);
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "|%lld|%lld\"", (long long)spans[i].start, (long long)spans[i].dur);
		first = 0;
	}
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s}\n", first ? "" : "]");
	write_all(sync_fd, buf, o);
}

/* ---- the plan ----------------------------------------------------------- */

static int read_full(int fd, void *p, size_t n) {
	char *b = p;
	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static char *plan;
static size_t plan_len, plan_off;

static void read_plan(void) {
	uint32_t n;
	if (read_full(sync_fd, &n, 4) < 0)
		failf("read the plan: %s", errno ? errstr(errno) : "EOF");
	if (n > 64u << 20)
		failf("plan of %u bytes", n);
	plan = malloc(n + 1);
	if (plan == NULL)
		failf("out of memory");
	if (read_full(sync_fd, plan, n) < 0)
		failf("read the plan: %s", errno ? errstr(errno) : "EOF");
	plan_len = n;
}

static int take(void *dst, size_t n) {
	if (plan_off + n > plan_len)
		return -1;
	memcpy(dst, plan + plan_off, n);
	plan_off += n;
	return 0;
}

static int take_string(const char **s, uint32_t *len) {
	if (take(len, 4) < 0 || plan_off + *len + 1 > plan_len)
		return -1;
	*s = plan + plan_off;
	plan_off += *len + 1;
	return 0;
}

/* next_op decodes the next operation; 0 at the end. */
static int next_op(struct op *op) {
	if (plan_off == plan_len)
		return 0;
	memset(op, 0, sizeof(*op));
	if (take(&op->code, 2) < 0 || take(&op->flags, 2) < 0 || take(&op->n, 2) < 0 || op->n > MAX_ARGS)
		failf("malformed plan");
	for (int i = 0; i < op->n; i++) {
		struct arg *a = &op->a[i];
		uint8_t kind;
		if (take(&kind, 1) < 0)
			failf("malformed plan");
		a->kind = kind;
		switch (kind) {
		case 1:
			if (take(&a->i, 8) < 0)
				failf("malformed plan");
			break;
		case 2:
			if (take_string(&a->s, &a->len) < 0)
				failf("malformed plan");
			break;
		case 3:
			if (take(&a->count, 4) < 0 || a->count > 1u << 20)
				failf("malformed plan");
			a->list = calloc(a->count + 1, sizeof(char *));
			if (a->list == NULL)
				failf("out of memory");
			for (uint32_t j = 0; j < a->count; j++) {
				const char *s;
				uint32_t l;
				if (take_string(&s, &l) < 0)
					failf("malformed plan");
				a->list[j] = (char *)s;
			}
			break;
		default:
			failf("malformed plan");
		}
	}
	return 1;
}

static int64_t I(struct op *op, int i) {
	if (i >= op->n || op->a[i].kind != 1)
		failf("op %d: argument %d is not a number", op->code, i);
	return op->a[i].i;
}

/* S is a string argument that must hold no NUL byte. */
static const char *S(struct op *op, int i) {
	if (i >= op->n || op->a[i].kind != 2)
		failf("op %d: argument %d is not a string", op->code, i);
	if (strlen(op->a[i].s) != op->a[i].len)
		failf("op %d: argument %d holds a NUL byte", op->code, i);
	return op->a[i].s;
}

static char **L(struct op *op, int i, uint32_t *count) {
	if (i >= op->n || op->a[i].kind != 3)
		failf("op %d: argument %d is not a list", op->code, i);
	if (count != NULL)
		*count = op->a[i].count;
	return op->a[i].list;
}

/* ---- paths inside the rootfs -------------------------------------------- */

static int rootfd = -1;
static const char *rootfs = "";

/* in_root opens path (a path in the container) inside the rootfs: symlinks
 * resolve as if the rootfs were "/", so nothing leads out of it
 * (CVE-2021-30465). */
static int in_root(int base, const char *path, int flags) {
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	while (*path == '/')
		path++;
	if (*path == '\0')
		path = ".";
	return (int)syscall(SYS_openat2, base, path, &how, sizeof(how));
}

/* mkdir_all makes path and its missing parents inside base (the rootfs or
 * its /dev), each resolved inside it. */
static int mkdir_all(int base, const char *path, mode_t mode) {
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	size_t len = strlen(buf);
	for (size_t i = 0; i <= len; i++) {
		if (i < len && buf[i] != '/')
			continue;
		if (i == 0 || buf[i - 1] == '/')
			continue;
		char save = buf[i];
		buf[i] = '\0';
		int fd = in_root(base, buf, O_PATH | O_DIRECTORY);
		if (fd < 0 && errno == ENOENT) {
			char *slash = strrchr(buf, '/');
			const char *name = slash ? slash + 1 : buf;
			int parent;
			if (slash == NULL || slash == buf) {
				parent = in_root(base, "/", O_PATH | O_DIRECTORY);
			} else {
				*slash = '\0';
				parent = in_root(base, buf, O_PATH | O_DIRECTORY);
				*slash = '/';
			}
			if (parent < 0)
				return -1;
			if (mkdirat(parent, name, mode) < 0 && errno != EEXIST) {
				int e = errno;
				close(parent);
				errno = e;
				return -1;
			}
			close(parent);
			fd = in_root(base, buf, O_PATH | O_DIRECTORY);
		}
		if (fd < 0)
			return -1;
		close(fd);
		buf[i] = save;
	}
	return 0;
}

/* parent_in_root opens the directory holding path, made if missing, and
 * points *name at its last element. */
static int parent_in_root(int base, const char *path, char *buf, size_t n, const char **name) {
	snprintf(buf, n, "%s", path);
	size_t l = strlen(buf);
	while (l > 1 && buf[l - 1] == '/')
		buf[--l] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash == NULL) {
		*name = buf;
		return in_root(base, "/", O_PATH | O_DIRECTORY);
	}
	*slash = '\0';
	*name = slash + 1;
	if (mkdir_all(base, buf, 0755) < 0)
		return -1;
	return in_root(base, buf, O_PATH | O_DIRECTORY);
}

/* target resolves a path argument: inside the rootfs (F_IN_ROOT), as
 * /proc/self/fd/N of it, or as it is. *fd is to be closed. */
static const char *target(struct op *op, const char *path, char *buf, size_t n, int *fd) {
	*fd = -1;
	if (!(op->flags & F_IN_ROOT) || rootfd < 0)
		return path;
	*fd = in_root(rootfd, path, O_PATH);
	if (*fd < 0)
		return NULL;
	snprintf(buf, n, "/proc/self/fd/%d", *fd);
	return buf;
}

static const char *host_path(struct op *op, const char *path) {
	static char buf[4096];
	if (!(op->flags & F_IN_ROOT))
		return path;
	snprintf(buf, sizeof(buf), "%s%s%s", rootfs, path[0] == '/' ? "" : "/", path);
	return buf;
}

/* remount is a bind remount with flags, keeping those the kernel locked
 * (nosuid, nodev, noexec, ro inherited from a less privileged namespace). */
static int remount(const char *t, unsigned long flags) {
	if (mount("", t, NULL, flags | MS_BIND | MS_REMOUNT, NULL) == 0)
		return 0;
	int e = errno;
	struct statfs st;
	if (statfs(t, &st) == 0) {
		unsigned long locked = (unsigned long)st.f_flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);
		return mount("", t, NULL, flags | locked | MS_BIND | MS_REMOUNT, NULL);
	}
	errno = e;
	return -1;
}

/* ---- operations --------------------------------------------------------- */

static const char *look_path_result;
static int hostproc = -1;

/* Each returns 0, or -1 with msg set (the caller decides: or-else,
 * best effort, or fail). */
static char msg[4096];

#define ERR(...)                                         \
	do {                                                 \
		snprintf(msg, sizeof(msg), __VA_ARGS__);         \
		return -1;                                       \
	} while (0)

/* op_at carries out a mount, a remount or a mount_setattr on its target,
 * resolved inside the rootfs with F_IN_ROOT. */
static int op_at(struct op *op) {
	const char *path = S(op, op->code == OP_MOUNT ? 1 : 0);
	char buf[64];
	int fd, rc;
	const char *t = target(op, path, buf, sizeof(buf), &fd);
	if (t == NULL)
		ERR("open mount target %s: %s", host_path(op, path), errstr(errno));
	if (op->code == OP_MOUNT) {
		const char *fstype = S(op, 2), *data = S(op, 4);
		rc = mount(S(op, 0), t, *fstype ? fstype : NULL, (unsigned long)I(op, 3), *data ? data : NULL);
	} else if (op->code == OP_REMOUNT) {
		rc = remount(t, (unsigned long)I(op, 1));
	} else {
		struct mount_attr attr = {.attr_set = (uint64_t)I(op, 1), .attr_clr = (uint64_t)I(op, 2)};
		rc = (int)syscall(SYS_mount_setattr, AT_FDCWD, t, AT_RECURSIVE, &attr, sizeof(attr));
	}
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		return 0;
	if (op->code == OP_MOUNT)
		ERR("%s %s: %s", S(op, 5), S(op, 6), errstr(e));
	if (op->code == OP_REMOUNT)
		ERR("%s %s: %s", S(op, 2), S(op, 3), errstr(e));
	ERR("mount_setattr (recursive options) %s: %s", S(op, 3), errstr(e));
}

static int op_mk_target(struct op *op) {
	const char *path = S(op, 0);
	int dir = (int)I(op, 1);
	int fd = in_root(rootfd, path, O_PATH);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != ENOENT)
		ERR("%s: %s", host_path(op, path), errstr(errno));
	if (dir) {
		if (mkdir_all(rootfd, path, 0755) < 0)
			ERR("mkdir %s: %s", host_path(op, path), errstr(errno));
		return 0;
	}
	char buf[4096];
	const char *name;
	int parent = parent_in_root(rootfd, path, buf, sizeof(buf), &name);
	if (parent < 0)
		ERR("mkdir %s: %s", host_path(op, path), errstr(errno));
	/* An O_PATH fd is a fine dirfd for openat. */
	fd = openat(parent, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	int e = errno;
	close(parent);
	if (fd < 0)
		ERR("open %s: %s", host_path(op, path), errstr(e));
	close(fd);
	return 0;
}

static int op_mknod(struct op *op) {
	const char *path = S(op, 0);
	int dev = in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
	if (dev < 0)
		ERR("open %s/dev: %s", rootfs, errstr(errno));
	char buf[4096];
	const char *name;
	int parent = parent_in_root(dev, path, buf, sizeof(buf), &name);
	close(dev);
	if (parent < 0)
		ERR("mkdir /dev/%s: %s", path, errstr(errno));
	mode_t old = umask(0);
	unlinkat(parent, name, 0);
	int rc = mknodat(parent, name, (mode_t)I(op, 1), (dev_t)I(op, 2));
	int e = errno;
	umask(old);
	if (rc < 0) {
		close(parent);
		ERR("mknod /dev/%s: %s", path, errstr(e));
	}
	rc = fchownat(parent, name, (uid_t)I(op, 3), (gid_t)I(op, 4), AT_SYMLINK_NOFOLLOW);
	e = errno;
	close(parent);
	if (rc < 0)
		ERR("chown device /dev/%s: %s", path, errstr(e));
	return 0;
}

static int op_symlink(struct op *op) {
	const char *to = S(op, 0), *path = S(op, 1);
	char buf[4096];
	const char *name;
	int parent = parent_in_root(rootfd, path, buf, sizeof(buf), &name);
	if (parent < 0)
		ERR("symlink %s: %s", path, errstr(errno));
	int rc = symlinkat(to, parent, name);
	int e = errno;
	close(parent);
	if (rc < 0 && e != EEXIST)
		ERR("symlink %s: %s", path, errstr(e));
	return 0;
}

static int op_mkdir_all(struct op *op) {
	const char *path = S(op, 0);
	mode_t mode = (mode_t)I(op, 1);
	if (op->flags & F_IN_ROOT) {
		if (mkdir_all(rootfd, path, mode) < 0)
			ERR("mkdir %s: %s", host_path(op, path), errstr(errno));
		return 0;
	}
	/* After pivot_root or chroot: "/" is the container's. */
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		ERR("open /: %s", errstr(errno));
	int rc = mkdir_all(root, path, mode);
	int e = errno;
	close(root);
	if (rc < 0)
		ERR("create cwd %s: %s", path, errstr(e));
	return 0;
}

static int op_ptmx(struct op *op) {
	(void)op;
	int fd = in_root(rootfd, "/dev/pts/ptmx", O_PATH);
	if (fd < 0)
		return 0;
	close(fd);
	int dev = in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
	if (dev < 0)
		ERR("open %s/dev: %s", rootfs, errstr(errno));
	unlinkat(dev, "ptmx", 0);
	int rc = symlinkat("pts/ptmx", dev, "ptmx");
	int e = errno;
	close(dev);
	if (rc < 0 && e != EEXIST)
		ERR("symlink /dev/ptmx: %s", errstr(e));
	return 0;
}

/* read_line reads one line from fd 3 (the runtime's answer). */
static int read_line(char *buf, size_t n) {
	size_t o = 0;
	while (o + 1 < n) {
		ssize_t r = read(sync_fd, buf + o, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (buf[o] == '\n')
			break;
		o++;
	}
	buf[o] = '\0';
	return 0;
}

/* op_await_cgroups waits for the parent's word that this process is in
 * the container's cgroups: the parent sends the plan before it makes them,
 * and what comes before this op (namespaces, most mounts) runs meanwhile. */
static int op_await_cgroups(struct op *op) {
	(void)op;
	char line[64];
	if (read_line(line, sizeof(line)) < 0)
		ERR("wait for the cgroups: %s", errno ? errstr(errno) : "EOF");
	if (strcmp(line, "cgroups") != 0)
		ERR("wait for the cgroups: unexpected %s", line);
	return 0;
}

static int op_hook_sync(struct op *op) {
	(void)op;
	char line[4096];
	send_msg("hooks", NULL);
	if (read_line(line, sizeof(line)) < 0)
		ERR("wait for hooks: %s", errno ? errstr(errno) : "EOF");
	if (strcmp(line, "ack") == 0)
		return 0;
	ERR("hooks failed: %s", strncmp(line, "error ", 6) == 0 ? line + 6 : line);
}

/* read_some appends what one read of fd gives to buf (capacity n, used
 * *o; the rest is dropped) and returns the read's result. */
static ssize_t read_some(int fd, char *buf, size_t n, size_t *o) {
	char tmp[512];
	ssize_t k = read(fd, tmp, sizeof(tmp));
	if (k > 0) {
		size_t take = (size_t)k < n - 1 - *o ? (size_t)k : n - 1 - *o;
		memcpy(buf + *o, tmp, take);
		*o += take;
	}
	return k;
}

/* op_hook runs a hook with the state on stdin, its output kept for the
 * error, and its timeout. */
static int op_hook(struct op *op) {
	const char *kind = S(op, 0), *path = S(op, 1), *in = S(op, 5);
	uint32_t nargs;
	char **args = L(op, 2, &nargs);
	char **env = L(op, 3, NULL);
	int64_t timeout = I(op, 4);
	char *defargs[2] = {(char *)path, NULL};
	if (nargs == 0)
		args = defargs;
	int inp[2], outp[2];
	if (pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0)
		ERR("%s hook %s: pipe: %s", kind, path, errstr(errno));
	pid_t pid = fork();
	if (pid < 0)
		ERR("%s hook %s: fork: %s", kind, path, errstr(errno));
	if (pid == 0) {
		dup2(inp[0], 0);
		dup2(outp[1], 1);
		dup2(outp[1], 2);
		/* Not the sync socket, the exec fifo or the host's /proc. */
		syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
		signal(SIGPIPE, SIG_DFL);
		execve(path, args, env);
		dprintf(2, "fork/exec %s: %s", path, errstr(errno));
		_exit(127);
	}
	close(inp[0]);
	close(outp[1]);
	/* The state goes in as the hook reads it, beside its output and its
	 * exit: a hook that reads nothing, or exits first, must not block us
	 * (SIGPIPE is ignored: see main). */
	fcntl(inp[1], F_SETFL, O_NONBLOCK);
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	size_t in_len = strlen(in), in_off = 0;
	int in_open = 1;
	if (in_len == 0) {
		close(inp[1]);
		in_open = 0;
	}
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	char out[2048];
	size_t o = 0;
	int64_t deadline = timeout > 0 ? now_ns() + timeout * 1000000000LL : 0;
	int timed_out = 0, out_open = 1, status = 0, exited = 0;
	while (!exited) {
		struct pollfd p[3] = {
			{.fd = out_open ? outp[0] : -1, .events = POLLIN},
			{.fd = pidfd, .events = POLLIN},
			{.fd = in_open ? inp[1] : -1, .events = POLLOUT},
		};
		int wait = pidfd < 0 ? 10 : -1; /* without a pidfd: poll for the exit */
		if (deadline) {
			int64_t left = deadline - now_ns();
			if (left <= 0) {
				timed_out = 1;
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				break;
			}
			if (wait < 0 || left / 1000000 + 1 < wait)
				wait = (int)(left / 1000000) + 1;
		}
		int r = poll(p, 3, wait);
		if (r < 0 && errno != EINTR)
			break;
		if (in_open && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(inp[1], in + in_off, in_len - in_off);
			if (w > 0)
				in_off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off == in_len) {
				close(inp[1]);
				in_open = 0;
			}
		}
		if (out_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t k = read_some(outp[0], out, sizeof(out), &o);
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
				out_open = 0;
		}
		if ((pidfd < 0 || (p[1].revents & POLLIN)) && waitpid(pid, &status, WNOHANG) == pid)
			exited = 1;
	}
	/* whatever it wrote last (not waiting for a child it left behind) */
	while (out_open && read_some(outp[0], out, sizeof(out), &o) > 0)
		;
	if (in_open)
		close(inp[1]);
	close(outp[0]);
	if (pidfd >= 0)
		close(pidfd);
	out[o] = '\0';
	while (o > 0 && (out[o - 1] == '\n' || out[o - 1] == ' ' || out[o - 1] == '\t' || out[o - 1] == '\r'))
		out[--o] = '\0';
	if (timed_out)
		ERR("%s hook %s: timed out after %llds", kind, path, (long long)timeout);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		ERR("%s hook %s: signal: %s: %s", kind, path, strsignal(WTERMSIG(status)), out);
	ERR("%s hook %s: exit status %d: %s", kind, path, WEXITSTATUS(status), out);
}

/* chroot_into makes root the process's root with chroot(2): for a
 * container without a mount namespace of its own, and with --no-pivot
 * (move, the rootfs moved onto "/" first). */
static int chroot_into(const char *root, int move) {
	if (chdir(root) < 0)
		ERR("chdir %s: %s", root, errstr(errno));
	if (move && mount(root, "/", NULL, MS_MOVE, NULL) < 0)
		ERR("move rootfs %s: %s", root, errstr(errno));
	if (chroot(".") < 0)
		ERR("chroot %s: %s", root, errstr(errno));
	if (chdir("/") < 0)
		ERR("chdir /: %s", errstr(errno));
	rootfd = -1;
	return 0;
}

static int op_pivot(struct op *op) {
	const char *root = S(op, 0);
	if (I(op, 1))
		return chroot_into(root, 1);
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0)
		ERR("open /: %s", errstr(errno));
	if (chdir(root) < 0)
		ERR("chdir %s: %s", root, errstr(errno));
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		ERR("pivot_root %s: %s", root, errstr(errno));
	if (fchdir(oldroot) < 0)
		ERR("fchdir: %s", errstr(errno));
	close(oldroot);
	/* The old root is stacked under the new one: detach it without letting
	 * the unmount propagate back to the host. */
	if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		ERR("make old root rslave /: %s", errstr(errno));
	if (umount2(".", MNT_DETACH) < 0)
		ERR("unmount old root /: %s", errstr(errno));
	if (chdir("/") < 0)
		ERR("chdir /: %s", errstr(errno));
	rootfd = -1;
	return 0;
}

static int op_readonly_path(struct op *op) {
	const char *p = S(op, 0);
	if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return 0;
		ERR("bind readonly path %s: %s", p, errstr(errno));
	}
	if (remount(p, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0)
		ERR("remount readonly path %s: %s", p, errstr(errno));
	return 0;
}

static int op_mask_path(struct op *op) {
	const char *p = S(op, 0);
	struct stat st;
	if (stat(p, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		ERR("stat %s: %s", p, errstr(errno));
	}
	int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0k") : mount("/dev/null", p, NULL, MS_BIND, NULL);
	if (rc < 0 && errno != ENOENT)
		ERR("mask path %s: %s", p, errstr(errno));
	return 0;
}

static int op_root_readonly(struct op *op) {
	(void)op;
	if (mount("", "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) == 0)
		return 0;
	int e = errno;
	struct statfs st;
	if (statfs("/", &st) == 0 && mount("", "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | (unsigned long)st.f_flags, NULL) == 0)
		return 0;
	ERR("remount rootfs read-only /: %s", errstr(e ? e : errno));
}

/* octal3 undoes mountinfo's \NNN escapes in place. */
static void unescape(char *s) {
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* op_private_parent makes the mount holding path private when it is
 * shared: pivot_root refuses a new root whose parent mount is shared, and
 * the rootfs bind would otherwise propagate to that mount's peers. */
static int op_private_parent(struct op *op) {
	const char *path = S(op, 0);
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		ERR("open /proc/self/mountinfo: %s", errstr(errno));
	char *line = NULL, best[4096] = "";
	size_t cap = 0;
	int shared = 0, found = 0;
	size_t plen = strlen(path);
	while (getline(&line, &cap, f) > 0) {
		/* id parent major:minor root mountpoint options [optional...] - ... */
		char *fields[64];
		int nf = 0;
		for (char *t = strtok(line, " \n"); t != NULL && nf < 64; t = strtok(NULL, " \n"))
			fields[nf++] = t;
		if (nf < 7)
			continue;
		char *mp = fields[4];
		unescape(mp);
		size_t ml = strlen(mp);
		int holds = strcmp(mp, path) == 0 || strcmp(mp, "/") == 0 ||
			    (ml < plen && strncmp(path, mp, ml) == 0 && path[ml] == '/');
		if (!holds || (found && ml < strlen(best)))
			continue;
		snprintf(best, sizeof(best), "%s", mp);
		found = 1;
		shared = 0;
		for (int i = 6; i < nf && strcmp(fields[i], "-") != 0; i++)
			if (strncmp(fields[i], "shared:", 7) == 0)
				shared = 1;
	}
	free(line);
	fclose(f);
	if (!found)
		ERR("no mount holds %s", path);
	if (shared && mount("", best, NULL, MS_PRIVATE, NULL) < 0)
		ERR("make the rootfs's parent mount private %s: %s", best, errstr(errno));
	return 0;
}

/* send_fd sends data with fd attached (SCM_RIGHTS) on the socket sock. */
static int send_fd(int sock, const char *data, int fd) {
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof(cbuf));
	struct iovec iov = {.iov_base = (void *)data, .iov_len = strlen(data)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) < 0 ? -1 : 0;
}

static int op_console(struct op *op) {
	int cfd = (int)I(op, 0);
	if (I(op, 1) && setsid() < 0)
		ERR("setsid: %s", errstr(errno));
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		ERR("open /dev/ptmx: %s", errstr(errno));
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		ERR("unlockpt: %s", errstr(errno));
	unsigned int n;
	if (ioctl(master, TIOCGPTN, &n) < 0)
		ERR("ptsname: %s", errstr(errno));
	char slave_path[64];
	snprintf(slave_path, sizeof(slave_path), "/dev/pts/%u", n);
	int slave = open(slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		ERR("open %s: %s", slave_path, errstr(errno));
	int64_t w = I(op, 2), h = I(op, 3);
	if (w > 0 && h > 0) {
		struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			ERR("set console size: %s", errstr(errno));
	}
	if (send_fd(cfd, slave_path, master) < 0)
		ERR("send pty master to console socket: %s", errstr(errno));
	close(cfd);
	close(master);
	for (int fd = 0; fd < 3; fd++)
		if (dup3(slave, fd, 0) < 0)
			ERR("dup pty slave: %s", errstr(errno));
	close(slave);
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		ERR("set controlling terminal: %s", errstr(errno));
	return 0;
}

static int op_oom(struct op *op) {
	char want[32], cur[32] = "";
	snprintf(want, sizeof(want), "%lld", (long long)I(op, 0));
	int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t r = read(fd, cur, sizeof(cur) - 1);
		if (r > 0) {
			cur[r] = '\0';
			char *nl = strchr(cur, '\n');
			if (nl)
				*nl = '\0';
			if (strcmp(cur, want) == 0) {
				close(fd);
				return 0;
			}
		}
		if (pwrite(fd, want, strlen(want), 0) < 0) {
			int e = errno;
			close(fd);
			ERR("set oom_score_adj to %s: write /proc/self/oom_score_adj: %s", want, errstr(e));
		}
		close(fd);
		return 0;
	}
	ERR("set oom_score_adj to %s: open /proc/self/oom_score_adj: %s", want, errstr(errno));
}

static int op_seccomp(struct op *op) {
	uint32_t len = op->a[0].kind == 2 ? op->a[0].len : 0;
	if (len == 0 || len % sizeof(struct sock_filter) != 0)
		ERR("seccomp: empty program");
	struct sock_filter *f = malloc(len);
	if (f == NULL)
		ERR("seccomp: out of memory");
	memcpy(f, op->a[0].s, len);
	struct sock_fprog prog = {.len = (unsigned short)(len / sizeof(struct sock_filter)), .filter = f};
	unsigned long flags = (unsigned long)I(op, 1);
	int notify = (int)I(op, 2);
	if (notify)
		flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (r < 0)
		ERR("seccomp(SET_MODE_FILTER, flags %#lx, %u instructions): %s", flags, prog.len, errstr(errno));
	if (!notify) {
		if ((flags & SECCOMP_FILTER_FLAG_TSYNC) && r != 0)
			ERR("seccomp: TSYNC failed: thread %ld has another filter", r);
		return 0;
	}
	int lfd = (int)r, conn = (int)I(op, 4);
	if (conn <= 0)
		ERR("seccomp notify: no connection to the listenerPath agent");
	if (send_fd(conn, S(op, 3), lfd) < 0)
		ERR("send the seccomp listener fd to the agent: %s", errstr(errno));
	close(lfd);
	close(conn);
	return 0;
}

static const char *cap_name(char **names, uint32_t n, int c) {
	static char buf[32];
	if (c >= 0 && (uint32_t)c < n)
		return names[c];
	snprintf(buf, sizeof(buf), "cap %d", c);
	return buf;
}

/* op_caps_user switches to the process's user and applies its capability
 * sets, keeping the capabilities across the uid change. */
static int op_caps_user(struct op *op) {
	uint64_t bounding = (uint64_t)I(op, 0), eff = (uint64_t)I(op, 1), perm = (uint64_t)I(op, 2);
	uint64_t inh = (uint64_t)I(op, 3), amb = (uint64_t)I(op, 4);
	uid_t uid = (uid_t)I(op, 5);
	gid_t gid = (gid_t)I(op, 6);
	uint32_t ngids, nnames;
	char **gidl = L(op, 7, &ngids);
	int last = (int)I(op, 8);
	char **names = L(op, 9, &nnames);
	for (int c = 0; c <= last; c++) {
		if (bounding & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			ERR("drop %s from bounding set: %s", cap_name(names, nnames, c), errstr(errno));
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		ERR("set keepcaps: %s", errstr(errno));
	gid_t *gids = calloc(ngids + 1, sizeof(gid_t));
	for (uint32_t i = 0; i < ngids; i++)
		gids[i] = (gid_t)strtoul(gidl[i], NULL, 10);
	/* raw system calls: libc's would try to apply them to every thread */
	if (syscall(SYS_setgroups, ngids, gids) < 0 && !(errno == EPERM && ngids == 0))
		ERR("setgroups: %s", errstr(errno));
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		ERR("setgid %u: %s", gid, errstr(errno));
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		ERR("setuid %u: %s", uid, errstr(errno));
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {
		{.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
		{.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32)},
	};
	if (syscall(SYS_capset, &hdr, data) < 0)
		ERR("capset: %s", errstr(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		ERR("clear ambient capabilities: %s", errstr(errno));
	/* The kernel only raises an ambient capability that is permitted and
	 * inheritable; runc's default spec lists ambient ones that are not. */
	for (int c = 0; c < 64; c++) {
		uint64_t bit = 1ULL << c;
		if ((amb & bit) && (perm & bit) && (inh & bit) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			warnf("cannot raise ambient capability %s: %s", cap_name(names, nnames, c), errstr(errno));
	}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		ERR("clear keepcaps: %s", errstr(errno));
	return 0;
}

static int is_executable(const char *p) {
	struct stat st;
	if (stat(p, &st) < 0)
		return errno;
	if (S_ISDIR(st.st_mode))
		return EISDIR;
	if ((st.st_mode & 0111) == 0)
		return EACCES;
	return 0;
}

/* op_look_path finds the program as Go's exec.LookPath would, inside the
 * container (already pivoted and in its working directory). */
static int op_look_path(struct op *op) {
	const char *name = S(op, 0), *pathenv = S(op, 1);
	static char found[4096];
	if (strchr(name, '/') != NULL) {
		int e = is_executable(name);
		if (e != 0)
			ERR("exec: \"%s\": %s", name, errstr(e));
		look_path_result = name;
		return 0;
	}
	char *dirs = strdup(pathenv);
	for (char *p = dirs, *next; p != NULL; p = next) {
		next = strchr(p, ':');
		if (next != NULL)
			*next++ = '\0';
		const char *dir = *p ? p : ".";
		snprintf(found, sizeof(found), "%s/%s", dir, name);
		if (is_executable(found) == 0) {
			free(dirs);
			look_path_result = found;
			return 0;
		}
	}
	free(dirs);
	ERR("exec: \"%s\": executable file not found in $PATH", name);
}

static int op_fifo(struct op *op) {
	int fd = openat(hostproc, "self/fd/4", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		ERR("open exec fifo: %s", errstr(errno));
	if (write(fd, "", 1) != 1)
		ERR("write exec fifo: %s", errstr(errno));
	if (!I(op, 0))
		close(fd); /* traced, its close-on-exec end tells start of the execve */
	close(hostproc);
	close(4);
	hostproc = -1;
	return 0;
}

static int op_move_fds(struct op *op) {
	int base = (int)I(op, 0), n = (int)I(op, 1);
	for (int i = 0; i < n; i++)
		if (dup2(base + i, 3 + i) < 0)
			ERR("preserve fd %d: %s", 3 + i, errstr(errno));
	/* Nothing of the host (CVE-2024-21626) reaches the container's process. */
	if (syscall(SYS_close_range, 3 + n, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		ERR("cannot mark fds close-on-exec: %s", errstr(errno));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		if (fd >= 3 + n && fd != dirfd(d))
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(d);
	return 0;
}

/* The kernel's struct sigaction (x86_64), for raw rt_sigaction calls: libc's
 * sigaction refuses the signals it reserves (32 and 33), which a caller may
 * have ignored all the same. */
struct ksigaction {
	unsigned long handler, flags, restorer;
	uint64_t mask;
};

/* Signals inherited as ignored keep SIG_IGN across execve: a shell or a
 * shim that ignored SIGINT or SIGHUP would pass that on, and `trap` or ^C in
 * the container would do nothing. */
static int op_reset_signals(struct op *op) {
	(void)op;
	for (int sig = 1; sig <= 64; sig++) {
		struct ksigaction old, dfl = {0};
		if (sig == SIGKILL || sig == SIGSTOP || syscall(SYS_rt_sigaction, sig, NULL, &old, 8) < 0)
			continue;
		if (old.handler == (unsigned long)SIG_IGN)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	return 0;
}

static int op_setns(struct op *op) {
	const char *path = S(op, 0), *what = S(op, 2);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ERR("open %s namespace: open %s: %s", what, path, errstr(errno));
	int rc = setns(fd, (int)I(op, 1));
	int e = errno;
	close(fd);
	if (rc < 0)
		ERR("join %s namespace %s: %s", what, path, errstr(e));
	return 0;
}

static int op_unshare(struct op *op) {
	if (unshare((int)I(op, 0)) < 0)
		ERR("unshare %s namespace: %s", S(op, 1), errstr(errno));
	return 0;
}

static int op_write(struct op *op) {
	const char *path = S(op, 0), *data = S(op, 1), *what = S(op, 2);
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		ERR("%s: open %s: %s", what, path, errstr(errno));
	ssize_t w = write(fd, data, strlen(data));
	int e = errno;
	close(fd);
	if (w < 0)
		ERR("%s: write %s: %s", what, path, errstr(e));
	return 0;
}

static int op_keyring(struct op *op) {
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, S(op, 0), 0, 0, 0) < 0 && errno != ENOSYS)
		warnf("join session keyring: %s", errstr(errno));
	return 0;
}

static int op_set_root(struct op *op) {
	rootfs = S(op, 0);
	rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		ERR("open rootfs %s: %s", rootfs, errstr(errno));
	return 0;
}

static int op_chroot(struct op *op) { return chroot_into(S(op, 0), 0); }

static int op_stat_rootfs(struct op *op) {
	struct stat st;
	if (stat(S(op, 0), &st) < 0)
		ERR("%s: %s", S(op, 1), errstr(errno));
	return 0;
}

static int op_names(struct op *op) {
	const char *n = S(op, 0);
	int hostname = op->code == OP_SETHOSTNAME;
	if ((hostname ? sethostname(n, strlen(n)) : setdomainname(n, strlen(n))) < 0)
		ERR("%s: %s", hostname ? "sethostname" : "setdomainname", errstr(errno));
	return 0;
}

static int op_rlimit(struct op *op) {
	struct rlimit rl = {.rlim_cur = (rlim_t)I(op, 1), .rlim_max = (rlim_t)I(op, 2)};
	if (prlimit(0, (int)I(op, 0), &rl, NULL) < 0)
		ERR("setrlimit %s: %s", S(op, 3), errstr(errno));
	return 0;
}

static int op_no_new_privs(struct op *op) {
	(void)op;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		ERR("set no_new_privs: %s", errstr(errno));
	return 0;
}

static int op_umask(struct op *op) {
	umask((mode_t)I(op, 0));
	return 0;
}

static int op_chdir(struct op *op) {
	if (chdir(S(op, 0)) < 0)
		ERR("chdir to cwd \"%s\" in the container: %s", S(op, 0), errstr(errno));
	return 0;
}

static int op_ready(struct op *op) {
	send_ready();
	close(sync_fd);
	prefix = S(op, 0);
	ready = 1;
	return 0;
}

static int op_exec(struct op *op) {
	char **args = L(op, 0, NULL), **env = L(op, 1, NULL);
	if (look_path_result == NULL)
		ERR("exec: no program");
	execve(look_path_result, args, env);
	int e = errno;
	fprintf(stderr, "%s: exec %s: %s\n", prefix, args[0] ? args[0] : look_path_result, errstr(e));
	_exit(127);
}

static int op_span(struct op *op) {
	span(S(op, 0), I(op, 1));
	return 0;
}

static int op_open_proc(struct op *op) {
	(void)op;
	hostproc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (hostproc < 0)
		ERR("open /proc: %s", errstr(errno));
	return 0;
}

/* OP_LOOPBACK_UP: lo up in a new network namespace (it starts down). */
static int op_loopback_up(struct op *op) {
	(void)op;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		ERR("bring lo up: socket: %s", errstr(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (rc == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(s);
	if (rc < 0)
		ERR("bring lo up: %s", errstr(e));
	return 0;
}

static int (*const ops[])(struct op *) = {
	[OP_SETNS] = op_setns,
	[OP_UNSHARE] = op_unshare,
	[OP_WRITE] = op_write,
	[OP_KEYRING] = op_keyring,
	[OP_OOM_SCORE_ADJ] = op_oom,
	[OP_MOUNT] = op_at,
	[OP_SET_ROOT] = op_set_root,
	[OP_MK_TARGET] = op_mk_target,
	[OP_MKNOD] = op_mknod,
	[OP_SYMLINK] = op_symlink,
	[OP_MKDIR_ALL] = op_mkdir_all,
	[OP_SET_ATTR] = op_at,
	[OP_REMOUNT] = op_at,
	[OP_PTMX] = op_ptmx,
	[OP_HOOK_SYNC] = op_hook_sync,
	[OP_HOOK] = op_hook,
	[OP_PIVOT] = op_pivot,
	[OP_CHROOT] = op_chroot,
	[OP_STAT_ROOTFS] = op_stat_rootfs,
	[OP_READONLY_PATH] = op_readonly_path,
	[OP_MASK_PATH] = op_mask_path,
	[OP_ROOT_READONLY] = op_root_readonly,
	[OP_PRIVATE_PARENT] = op_private_parent,
	[OP_SETHOSTNAME] = op_names,
	[OP_SETDOMAINNAME] = op_names,
	[OP_CONSOLE] = op_console,
	[OP_RLIMIT] = op_rlimit,
	[OP_SECCOMP] = op_seccomp,
	[OP_CAPS_USER] = op_caps_user,
	[OP_NO_NEW_PRIVS] = op_no_new_privs,
	[OP_UMASK] = op_umask,
	[OP_CHDIR] = op_chdir,
	[OP_LOOK_PATH] = op_look_path,
	[OP_READY] = op_ready,
	[OP_FIFO] = op_fifo,
	[OP_MOVE_FDS] = op_move_fds,
	[OP_RESET_SIGNALS] = op_reset_signals,
	[OP_EXEC] = op_exec,
	[OP_SPAN] = op_span,
	[OP_OPEN_PROC] = op_open_proc,
	[OP_LOOPBACK_UP] = op_loopback_up,
	[OP_AWAIT_CGROUPS] = op_await_cgroups,
};

static int run_op(struct op *op) {
	if (op->code < sizeof(ops) / sizeof(ops[0]) && ops[op->code] != NULL)
		return ops[op->code](op);
	ERR("unknown operation %d (runtime-init and the runtime are from different builds)", op->code);
}

/* run_plan carries out the operations in order. An operation with
 * F_OR_ELSE is followed by its alternative (flags >> 8 operations, 1 if
 * 0): run when it fails, skipped when it succeeds; if the alternative fails
 * too, the first error is reported. */
static void run_plan(void) {
	struct op op;
	while (next_op(&op)) {
		if (run_op(&op) == 0) {
			if (op.flags & F_OR_ELSE) {
				int skip = op.flags >> 8 ? op.flags >> 8 : 1;
				struct op alt;
				for (int i = 0; i < skip && next_op(&alt); i++)
					;
			}
			continue;
		}
		if (op.flags & F_BEST_EFFORT)
			continue;
		if (!(op.flags & F_OR_ELSE))
			failf("%s", msg);
		char first[sizeof(msg)];
		memcpy(first, msg, sizeof(msg));
		int n = op.flags >> 8 ? op.flags >> 8 : 1;
		for (int i = 0; i < n; i++) {
			struct op alt;
			if (!next_op(&alt))
				failf("%s", first);
			if (run_op(&alt) < 0 && !(alt.flags & F_BEST_EFFORT))
				failf("%s", first);
		}
	}
	failf("the plan ends without exec");
}

/* ---- joining namespaces ------------------------------------------------- */

static void die(const char *what) {
	failf("nsenter: %s: %s", what, errstr(errno));
}

/* In the parent: report the child's pid on fd 3 and exit. */
static void report_child(pid_t child) {
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "{\"type\":\"pid\",\"pid\":%d}\n", (int)child);
	if (write(sync_fd, buf, (size_t)n) != n)
		_exit(1);
	_exit(0);
}

struct ns {
	const char *name;
	int flag;
	/* the target's file, when not ns/<name>: init unshares its time
	 * namespace and only enters it at execve, so join the one it made */
	const char *file;
};

/* _BERTH_JOIN: see the top of the file. Returns in the child. */
static void berth_join(const char *spec) {
	static const struct ns order[] = {
		{"user", CLONE_NEWUSER, NULL}, {"pid", CLONE_NEWPID, NULL},
		{"time", CLONE_NEWTIME, NULL}, {"mnt", CLONE_NEWNS, NULL},
	};
	int fds[4] = {-1, -1, -1, -1};
	char *copy = strdup(spec);
	if (copy == NULL)
		die("strdup");
	for (char *line = strtok(copy, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		for (size_t i = 0; i < 4; i++) {
			if (strcmp(line, order[i].name) != 0)
				continue;
			fds[i] = open(eq + 1, O_RDONLY | O_CLOEXEC);
			if (fds[i] < 0)
				die(eq + 1);
		}
	}
	free(copy);
	for (size_t i = 0; i < 4; i++) {
		if (fds[i] < 0)
			continue;
		if (setns(fds[i], order[i].flag) < 0)
			die(order[i].name);
		close(fds[i]);
		if (order[i].flag == CLONE_NEWUSER) {
			/* Become the namespace's root: our host ids are unmapped there,
			 * and files made during setup would get the overflow id. */
			if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
				die("become root in the joined user namespace");
			(void)setgroups(0, NULL);
		}
	}
	const char *flags = getenv("_BERTH_UNSHARE");
	if (flags != NULL && *flags != '\0' && unshare((int)strtol(flags, NULL, 10)) < 0)
		die("unshare");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child > 0)
		report_child(child);
}

/* _BERTH_NSENTER: see the top of the file. Returns in the child. */
static void berth_nsenter(const char *pid) {
	/* user first (it grants the rights for the rest), mnt last. */
	static const struct ns order[] = {
		{"user", CLONE_NEWUSER, NULL}, {"cgroup", CLONE_NEWCGROUP, NULL}, {"ipc", CLONE_NEWIPC, NULL},
		{"uts", CLONE_NEWUTS, NULL},   {"net", CLONE_NEWNET, NULL},       {"pid", CLONE_NEWPID, NULL},
		{"time", CLONE_NEWTIME, "time_for_children"}, {"mnt", CLONE_NEWNS, NULL},
	};
	int fds[8];
	/* Open them all first: after joining the mount namespace /proc is the container's. */
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		char path[64], self[64];
		struct stat a, b;
		fds[i] = -1;
		snprintf(path, sizeof(path), "/proc/%s/ns/%s", pid, order[i].file ? order[i].file : order[i].name);
		snprintf(self, sizeof(self), "/proc/self/ns/%s", order[i].name);
		if (stat(path, &a) < 0) {
			if (errno == ENOENT)
				continue;
			die(path);
		}
		if (stat(self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			continue; /* already there */
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			die(path);
	}
	/* The container's root: joining its mount namespace makes the
	 * namespace's root ours, which is not the container's when it has no
	 * mount namespace of its own (it shares ours, chrooted) or was made
	 * with --no-pivot (chrooted into a moved mount). */
	char rootpath[64];
	snprintf(rootpath, sizeof(rootpath), "/proc/%s/root", pid);
	int root = open(rootpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		die(rootpath);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (fds[i] < 0)
			continue;
		if (setns(fds[i], order[i].flag) < 0)
			die(order[i].name);
		close(fds[i]);
	}
	struct stat want, have;
	if (fstat(root, &want) < 0 || stat("/", &have) < 0)
		die("stat the container's root");
	if (want.st_ino != have.st_ino || want.st_dev != have.st_dev) {
		if (fchdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0)
			die("enter the container's root");
	}
	close(root);
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child > 0)
		report_child(child);
}

/* ---- started ahead (zygote) -------------------------------------------- */

/* A standby runtime starts init before its create is known ("zygote"):
 * cloned into the namespaces nearly every container gets and exec'd, it
 * waits here, with /dev/null as its stdio and only the sync socket, for the
 * create to hand it what the clone would have given it: its stdio, the fds
 * after the sync socket (the exec fifo, the console socket, ...), the
 * namespaces still to make (unshare) and a new session for a terminal. The
 * create's wait for the clone and the exec (about 2 ms on the test machine)
 * goes. Must match package container's zygote message. */
#define ZYGOTE_MAGIC 0x7a79676fu
#define ZYGOTE_MAX_FDS 64
struct zygote_msg {
	uint32_t magic, nfds, unshare, setsid;
};

static void zygote_wake(void) {
	struct zygote_msg h;
	union {
		char buf[CMSG_SPACE(sizeof(int) * ZYGOTE_MAX_FDS)];
		struct cmsghdr align;
	} c;
	struct iovec iov = {.iov_base = &h, .iov_len = sizeof(h)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
	ssize_t n;
	do
		n = recvmsg(sync_fd, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		_exit(0); /* the standby went without a create for us */
	if (n < 0)
		failf("started ahead: read the create's fds: %s", errstr(errno));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	if (n != (ssize_t)sizeof(h) || h.magic != ZYGOTE_MAGIC || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || cm == NULL ||
	    cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || h.nfds < 3 || h.nfds > ZYGOTE_MAX_FDS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int) * h.nfds))
		failf("started ahead: malformed hand-over from the runtime");
	int fds[ZYGOTE_MAX_FDS];
	memcpy(fds, CMSG_DATA(cm), sizeof(int) * h.nfds);
	/* Out of the way first: the kernel gave them the lowest free numbers,
	 * which may be the ones they are to take. */
	for (uint32_t i = 0; i < h.nfds; i++) {
		int hi = fcntl(fds[i], F_DUPFD_CLOEXEC, 1024);
		if (hi < 0)
			failf("started ahead: dup: %s", errstr(errno));
		close(fds[i]);
		fds[i] = hi;
	}
	/* Stdio at 0-2, the rest from 4 on (3 is the sync socket), as the
	 * clone would have placed them; dup2 clears close-on-exec. */
	for (uint32_t i = 0; i < h.nfds; i++) {
		int want = i < 3 ? (int)i : (int)i + 1;
		if (dup2(fds[i], want) < 0)
			failf("started ahead: dup2: %s", errstr(errno));
		close(fds[i]);
	}
	if (h.setsid && setsid() < 0)
		failf("started ahead: setsid: %s", errstr(errno));
	if (h.unshare != 0 && unshare((int)h.unshare) < 0)
		failf("started ahead: unshare: %s", errstr(errno));
	entered = now_ns();
}

int main(int argc, char **argv) {
	entered = now_ns();
	int zygote = argc >= 2 && strcmp(argv[1], "zygote") == 0;
	if (argc < 2 || (strcmp(argv[1], "init") != 0 && strcmp(argv[1], "exec") != 0 && !zygote)) {
		fprintf(stderr, "runtime-init: started by the runtime only (argv[1] init, zygote or exec)\n");
		return 2;
	}
	if (strcmp(argv[1], "exec") == 0)
		prefix = "berth exec";
	/* Not dumpable while the host's fds and /proc are in reach: another
	 * process of the container must not ptrace us or open our
	 * /proc/PID/fd (execve of the container's program makes it dumpable
	 * again, as its own credentials allow). */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* A write to a hook that exited, or to a runtime that went away, is an
	 * error to report, not our death. The container's process gets the
	 * default back (op_reset_signals). */
	signal(SIGPIPE, SIG_IGN);
	const char *join = getenv("_BERTH_JOIN");
	const char *target = getenv("_BERTH_NSENTER");
	int exec_mode = strcmp(argv[1], "exec") == 0;
	/* An exec'd process is only ever set up inside a container's
	 * namespaces: without the pid to join, it would be set up on the host. */
	if (exec_mode != (target != NULL && *target != '\0'))
		failf("started without %s", exec_mode ? "_BERTH_NSENTER (the container to join)" : "being asked for init");
	if (join != NULL && *join != '\0')
		berth_join(join);
	else if (exec_mode)
		berth_nsenter(target);
	unsetenv("_BERTH_JOIN");
	unsetenv("_BERTH_UNSHARE");
	unsetenv("_BERTH_NSENTER");
	if (zygote)
		zygote_wake();
	read_plan();
	run_plan();
	return 1;
}
