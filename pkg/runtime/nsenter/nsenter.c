// Runs before the Go runtime starts (a constructor), while the process still
// has one thread: the only time setns(2) into mount and user namespaces works.
// Used by `runtime exec`: the runtime re-executes itself with
// _BERTH_NSENTER=<pid of the container's init> and fd 3 a socket; this code
// joins every namespace of that pid that differs from ours, then forks so the
// child is inside the pid namespace too. The parent writes
// {"type":"pid","pid":N} to fd 3 and exits; the child returns here and Go
// starts (in package container, ExecInit).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <sys/wait.h>
#include <grp.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static void die(const char *what) {
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "{\"type\":\"error\",\"msg\":\"nsenter: %s: %s\"}\n", what, strerror(errno));
	if (n > 0) {
		ssize_t w = write(3, buf, (size_t)n);
		(void)w;
	}
	_exit(1);
}

struct ns {
	const char *name;
	int flag;
	/* the target's file, when not ns/<name>: init unshares its time
	 * namespace and only enters it at execve, so join the one it made */
	const char *file;
};

/* Container init of `create` when the config joins a user, pid, time or
 * mount namespace by path (_BERTH_JOIN="user=PATH\npid=PATH\n..."): join
 * them (user first, mount last), unshare the new namespaces of
 * _BERTH_UNSHARE (clone flags, made here so that they belong to a joined
 * user namespace), then fork so the child is in the pid and time
 * namespaces; the parent reports the child's pid on fd 3 and exits. */
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
	if (child == 0) {
		unsetenv("_BERTH_JOIN");
		unsetenv("_BERTH_UNSHARE");
		return;
	}
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "{\"type\":\"pid\",\"pid\":%d}\n", (int)child);
	if (write(3, buf, (size_t)n) != n)
		_exit(1);
	_exit(0);
}

__attribute__((constructor)) static void berth_nsenter(void) {
	const char *join = getenv("_BERTH_JOIN");
	if (join != NULL && *join != '\0') {
		berth_join(join);
		return;
	}
	const char *target = getenv("_BERTH_NSENTER");
	if (target == NULL || *target == '\0')
		return;
	/* user first (it grants the rights for the rest), mnt last. */
	static const struct ns order[] = {
		{"user", CLONE_NEWUSER}, {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC},
		{"uts", CLONE_NEWUTS},   {"net", CLONE_NEWNET},       {"pid", CLONE_NEWPID},
		{"time", CLONE_NEWTIME, "time_for_children"}, {"mnt", CLONE_NEWNS},
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
	if (child == 0) {
		unsetenv("_BERTH_NSENTER");
		return; /* Go starts, inside every namespace */
	}
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "{\"type\":\"pid\",\"pid\":%d}\n", (int)child);
	if (write(3, buf, (size_t)n) != n)
		_exit(1);
	_exit(0);
}
