// runtime-nsenter joins a container's namespaces for the runtime (which is
// pure Go: a multi-threaded Go process cannot setns(2) into mount, user or
// pid namespaces) and then executes the runtime inside them. It is a small
// static C program, installed next to the runtime (bin/runtime-nsenter),
// and is always executed from a protected fd: the runtime opens it through
// the same read-only overlay (or sealed memfd copy) as itself, since the
// forked child below runs inside the container's namespaces before it
// executes the runtime (CVE-2019-5736).
//
// The runtime starts it with argv = the runtime's own argv for the process
// to become (runtime exec-init, or runtime init), fd 3 a socket, and in the
// environment _BERTH_EXE_FD = an fd of the (protected) runtime binary, plus
// one of:
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
// The parent writes {"type":"pid","pid":N} to fd 3 and exits; the child
// drops those variables and executes the runtime from _BERTH_EXE_FD with
// execveat(AT_EMPTY_PATH), not through /proc (the container may have none),
// so that Go starts inside every namespace. Errors are written to fd 3 as
// {"type":"error","msg":"..."}.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

extern char **environ;

/* Copies s into dst (of size n) as the inside of a JSON string. */
static void json_escape(char *dst, size_t n, const char *s) {
	size_t o = 0;
	for (; *s != '\0' && o + 7 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(dst + o, n - o, "\\u%04x", c);
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
}

static void die(const char *what) {
	char msg[384], buf[512];
	const char *err = strerror(errno);
	char full[384];
	snprintf(full, sizeof(full), "nsenter: %s: %s", what, err);
	json_escape(msg, sizeof(msg), full);
	int n = snprintf(buf, sizeof(buf), "{\"type\":\"error\",\"msg\":\"%s\"}\n", msg);
	if (n > 0 && write(3, buf, (size_t)n) != n) {
		/* No sync socket: not started by the runtime. */
		ssize_t w = write(2, full, strlen(full));
		w = write(2, "\n", 1);
		(void)w;
	}
	_exit(1);
}

/* In the parent: report the child's pid on fd 3 and exit. */
static void report_child(pid_t child) {
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "{\"type\":\"pid\",\"pid\":%d}\n", (int)child);
	if (write(3, buf, (size_t)n) != n)
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
static void berth_nsenter(const char *target) {
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
		snprintf(path, sizeof(path), "/proc/%s/ns/%s", target, order[i].file ? order[i].file : order[i].name);
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
	snprintf(rootpath, sizeof(rootpath), "/proc/%s/root", target);
	int rootfd = open(rootpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		die(rootpath);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (fds[i] < 0)
			continue;
		if (setns(fds[i], order[i].flag) < 0)
			die(order[i].name);
		close(fds[i]);
	}
	struct stat want, have;
	if (fstat(rootfd, &want) < 0 || stat("/", &have) < 0)
		die("stat the container's root");
	if (want.st_ino != have.st_ino || want.st_dev != have.st_dev) {
		if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
			die("enter the container's root");
	}
	close(rootfd);
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child > 0)
		report_child(child);
}

int main(int argc, char **argv) {
	(void)argc;
	const char *fdstr = getenv("_BERTH_EXE_FD");
	if (fdstr == NULL || *fdstr == '\0') {
		errno = EINVAL;
		die("_BERTH_EXE_FD is not set (runtime-nsenter is started by the runtime only)");
	}
	char *end;
	long exe = strtol(fdstr, &end, 10);
	if (*end != '\0' || exe < 3 || exe > 1 << 20) {
		errno = EINVAL;
		die("_BERTH_EXE_FD");
	}
	/* The runtime binary's fd must not reach the runtime, or the container. */
	if (fcntl((int)exe, F_SETFD, FD_CLOEXEC) < 0)
		die("_BERTH_EXE_FD");
	const char *join = getenv("_BERTH_JOIN");
	const char *target = getenv("_BERTH_NSENTER");
	if (join != NULL && *join != '\0') {
		berth_join(join);
	} else if (target != NULL && *target != '\0') {
		berth_nsenter(target);
	} else {
		errno = EINVAL;
		die("neither _BERTH_NSENTER nor _BERTH_JOIN is set");
	}
	/* The child, inside every namespace: become the runtime. */
	unsetenv("_BERTH_JOIN");
	unsetenv("_BERTH_UNSHARE");
	unsetenv("_BERTH_NSENTER");
	unsetenv("_BERTH_EXE_FD");
	syscall(SYS_execveat, (int)exe, "", argv, environ, AT_EMPTY_PATH);
	die("execute the runtime");
	return 1;
}
