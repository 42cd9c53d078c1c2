/* The zygote's per-program loop in C: receive a request, prepare the child's area (a fresh
 * tmpfs, or a clean directory), capture file and socket, clone the child into its namespaces as
 * the supervisor's (CLONE_PARENT), confine it, hand the supervisor its ends, repeat. It returns
 * to Python only in a new child, or when Python has to act.
 *
 * Why C: after every clone all of the zygote's pages are shared copy-on-write with the child,
 * so each page the zygote writes before the next clone costs a page copy. A Python loop writes
 * dozens of pages per iteration (frames, objects, reference counts); this loop writes its own
 * stack only. The protocol and the confinement are those of zygote.py and
 * isolation.confine_child, which keep a Python loop with the same behaviour for interpreters
 * where this extension was not built (a test pins both to the same child state).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef CLONE_PARENT
#define CLONE_PARENT 0x00008000
#endif
#ifndef POLLRDHUP
#define POLLRDHUP 0x2000
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define REQUEST_WORDS 5 /* zygote.REQUEST: memory_mb, cpu_s, file_mb, nproc, tmpfs_mb */
#define REQUEST_SIZE (REQUEST_WORDS * 4)
#define TMPFS_INODES 16384

typedef struct {
    const char *sandbox_dir, *home;
    char tmp[4096], shm[4096];
    int uid, drop_caps, fresh_tmpfs, oom_adjust, nproc;
    long clone_flags;
    const char *seccomp; /* struct sock_filter[], from isolation.seccomp_filter() */
    Py_ssize_t seccomp_len;
    int landlock_scope; /* a nested, scoped Landlock domain (see isolation.Confinement) */
    const char *temp_dirs; /* isolation.Confinement.temp_dirs: "T<dir>\n" / "B<src>\t<dst>\n" steps */
    Py_ssize_t temp_dirs_len;
} confinement;

struct filter_program {
    unsigned short len;
    const void *filter;
};

static void send_error(int ctl, const char *what, int err) {
    char message[512];
    int32_t zero = 0;
    memcpy(message, &zero, sizeof zero);
    message[sizeof zero] = 'E';
    int n = snprintf(message + sizeof zero + 1, sizeof message - sizeof zero - 1, "%s: %s", what,
                     strerror(err));
    if (n < 0) n = 0;
    if ((size_t)n > sizeof message - sizeof zero - 2) n = (int)(sizeof message - sizeof zero - 2);
    (void)send(ctl, message, sizeof zero + 1 + (size_t)n, MSG_NOSIGNAL);
}

static int send_child(int ctl, int32_t pid, int sock_fd, int out_fd) {
    struct msghdr msg;
    struct iovec iov = {.iov_base = &pid, .iov_len = sizeof pid};
    union {
        char buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&msg, 0, sizeof msg);
    memset(&control, 0, sizeof control);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(2 * sizeof(int));
    int fds[2] = {sock_fd, out_fd};
    memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
    ssize_t n;
    do {
        n = sendmsg(ctl, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

/* An unnamed file for the child's stdout/stderr; a name unlinked at once where the filesystem
 * has no O_TMPFILE. */
static int capture_file(const char *dir) {
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/capture-%ld", dir, (long)getpid()) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) unlink(path);
    return fd;
}

/* Temp dirs of the root that hold part of the interpreter's view (a venv under /tmp): a fresh
 * tmpfs per program ("T<dir>"), with the view's parts attached back from detached mount trees
 * ("F<fd>\t<dst>": rootfs._stash_temp_dirs), so the program gets an empty, writable /tmp whose
 * view paths still resolve and no path shows where the parts are kept. */
#define NR_OPEN_TREE 428 /* unified numbers for new syscalls: the same on every architecture */
#define NR_MOVE_MOUNT 429
#define TREE_CLONE_FLAGS (1 /* OPEN_TREE_CLONE */ | O_CLOEXEC | 0x8000 /* AT_RECURSIVE */ | 0x1000 /* AT_EMPTY_PATH */)
#define MOVE_FROM_EMPTY_PATH 4 /* MOVE_MOUNT_F_EMPTY_PATH */

static int attach_tree(int tree, const char *dst) {
    int fd = (int)syscall(NR_OPEN_TREE, tree, "", TREE_CLONE_FLAGS);
    if (fd < 0) return -1;
    int rc = (int)syscall(NR_MOVE_MOUNT, fd, "", AT_FDCWD, dst, MOVE_FROM_EMPTY_PATH);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static int refresh_temp_dirs(const confinement *c, uint32_t tmpfs_mb, const char **what) {
    char steps[8192];
    if (c->temp_dirs_len <= 0) return 0;
    if ((size_t)c->temp_dirs_len >= sizeof steps) {
        *what = "temp dir steps too long";
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(steps, c->temp_dirs, (size_t)c->temp_dirs_len);
    steps[c->temp_dirs_len] = '\0';
    char options[128];
    snprintf(options, sizeof options, "size=%um,nr_inodes=%d,mode=1777", tmpfs_mb, TMPFS_INODES);
    for (char *line = steps, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (line[0] == 'T') {
            (void)umount2(line + 1, MNT_DETACH);
            if (mount("tmpfs", line + 1, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) {
                *what = "mount temp dir tmpfs";
                return -1;
            }
        } else if (line[0] == 'F') {
            char *dst = strchr(line, '\t');
            if (!dst) continue;
            *dst++ = '\0';
            for (char *p = dst + 1; *p; p++) { /* mkdir -p dst */
                if (*p != '/') continue;
                *p = '\0';
                (void)mkdir(dst, 0755);
                *p = '/';
            }
            (void)mkdir(dst, 0755);
            if (attach_tree(atoi(line + 1), dst) != 0) {
                *what = "attach view part into temp dir";
                return -1;
            }
        }
    }
    return 0;
}

/* The per-program area: home (cwd), tmp and shm, owned by the sandbox uid. With fresh_tmpfs
 * the previous program's tmpfs is detached and a new one mounted (O(1) whatever it held);
 * otherwise the directories must be empty ("dirty" goes back to Python, which moves them). */
static int prepare_area(const confinement *c, uint32_t tmpfs_mb, const char **what) {
    if (c->fresh_tmpfs) {
        char options[128];
        snprintf(options, sizeof options, "size=%um,nr_inodes=%d,mode=0755", tmpfs_mb, TMPFS_INODES);
        (void)umount2(c->sandbox_dir, MNT_DETACH);
        if (mount("tmpfs", c->sandbox_dir, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) {
            *what = "mount sandbox tmpfs";
            return -1;
        }
        if (refresh_temp_dirs(c, tmpfs_mb, what) != 0) return -1;
    }
    const char *dirs[3] = {c->home, c->tmp, c->shm};
    for (int i = 0; i < 3; i++) {
        if (mkdir(dirs[i], 0700) != 0) {
            *what = "mkdir";
            return -1;
        }
        if (c->uid >= 0 && chown(dirs[i], (uid_t)c->uid, (gid_t)c->uid) != 0) {
            *what = "chown";
            return -1;
        }
    }
    return 0;
}

static int area_clean(const confinement *c) {
    if (c->fresh_tmpfs) return 1;
    const char *dirs[3] = {c->home, c->tmp, c->shm};
    for (int i = 0; i < 3; i++)
        if (rmdir(dirs[i]) != 0 && errno != ENOENT) return 0;
    return 1;
}

static void drop_capabilities(void) {
    for (int cap = 0; cap < 64; cap++) (void)prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    uint32_t header[2] = {0x20080522, 0}; /* _LINUX_CAPABILITY_VERSION_3, this process */
    uint32_t data[6] = {0, 0, 0, 0, 0, 0};
    if (syscall(SYS_capset, header, data) != 0) _exit(71);
}

/* The child's confinement, the same steps as isolation.confine_child after _run_child's fd
 * wiring, done here so the child runs no Python until confined. Any failure ends the child
 * (exit code 71; 70 when the supervisor is gone). */
static void confine(int ctl, int sock_fd, int out_fd, const confinement *c,
                    const uint32_t request[REQUEST_WORDS]) {
    if (setpgid(0, 0) != 0) _exit(71);
    /* ctl is still open (the liveness check below reads it); close_range keeps fds 0-3 only
     * after it, so duplicate ctl out of the way first. */
    int ctl_copy = fcntl(ctl, F_DUPFD_CLOEXEC, 64);
    if (ctl_copy < 0) _exit(71);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 ||
        dup2(sock_fd, 3) < 0)
        _exit(71);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 4U, (unsigned)ctl_copy - 1U, 0U) != 0 ||
        syscall(SYS_close_range, (unsigned)ctl_copy + 1U, ~0U, 0U) != 0)
#endif
        for (int fd = 4; fd < 65536; fd++)
            if (fd != ctl_copy) close(fd);
    if (chdir(c->home) != 0) _exit(71);
    if (c->oom_adjust) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY);
        if (fd < 0 || write(fd, "1000", 4) != 4) _exit(71);
        close(fd);
    }
    /* isolation.set_limits: address space, CPU s, file size, open files, core, processes (and
     * threads), locked memory; hard == soft, never above the current hard limit. */
    const struct { int resource; rlim_t value; } limits[] = {
        {RLIMIT_AS, (rlim_t)request[0] * 1024 * 1024}, {RLIMIT_CPU, (rlim_t)request[1]},
        {RLIMIT_FSIZE, (rlim_t)request[2] * 1024 * 1024}, {RLIMIT_NOFILE, 64}, {RLIMIT_CORE, 0},
        {RLIMIT_NPROC, (rlim_t)request[3]}, {RLIMIT_MEMLOCK, 0},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        struct rlimit current;
        if (getrlimit(limits[i].resource, &current) != 0) _exit(71);
        rlim_t value = limits[i].value;
        if (current.rlim_max != RLIM_INFINITY && value > current.rlim_max) value = current.rlim_max;
        struct rlimit next = {value, value};
        if (setrlimit(limits[i].resource, &next) != 0) _exit(71);
    }
    if (c->drop_caps) drop_capabilities();
    if (c->uid >= 0) {
        if (setgroups(0, NULL) != 0 || setresgid((gid_t)c->uid, (gid_t)c->uid, (gid_t)c->uid) != 0 ||
            setresuid((uid_t)c->uid, (uid_t)c->uid, (uid_t)c->uid) != 0)
            _exit(71);
    }
    /* After the uid change, which clears it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) _exit(71);
    /* The supervisor holds the other end of ctl: if it died before the death signal was armed,
     * the socket is hung up (getppid() says nothing here: in a new PID namespace it is 0). */
    struct pollfd alive = {.fd = ctl_copy, .events = POLLRDHUP, .revents = 0};
    if (poll(&alive, 1, 0) < 0 || (alive.revents & (POLLHUP | POLLRDHUP | POLLERR))) _exit(70);
    close(ctl_copy);
    if (c->landlock_scope) {
        /* struct landlock_ruleset_attr {handled_access_fs, handled_access_net, scoped}: only
         * scoped (abstract unix sockets | signals), ABI 6. */
        uint64_t attr[3] = {0, 0, 3};
        long ruleset = syscall(444 /* landlock_create_ruleset */, attr, sizeof attr, 0);
        if (ruleset < 0 || syscall(446 /* landlock_restrict_self */, (int)ruleset, 0) != 0) _exit(71);
        close((int)ruleset);
    }
    if (c->seccomp_len > 0) {
        struct filter_program program = {(unsigned short)(c->seccomp_len / 8), c->seccomp};
        if (prctl(PR_SET_SECCOMP, 2 /* SECCOMP_MODE_FILTER */, &program, 0, 0) != 0) _exit(71);
    }
}

/* serve(ctl_fd, confinement, pending) -> None | "child" | ("dirty", request)
 * confinement: isolation.Confinement.as_tuple(). None: the supervisor closed the control socket.
 * "child": we are the new child, confined, with its socket on fd 3 and its capture file on fds
 * 1 and 2. "dirty": the previous child's directories are not empty; Python moves them aside
 * and calls again with the request as `pending`. */
static PyObject *serve(PyObject *Py_UNUSED(self), PyObject *args) {
    int ctl;
    confinement c;
    const char *pending = NULL;
    Py_ssize_t pending_len = 0;
    memset(&c, 0, sizeof c);
    if (!PyArg_ParseTuple(args, "i(ssilpppiy#py#)|z#", &ctl, &c.sandbox_dir, &c.home, &c.uid,
                          &c.clone_flags, &c.drop_caps, &c.fresh_tmpfs, &c.oom_adjust, &c.nproc,
                          &c.seccomp, &c.seccomp_len, &c.landlock_scope, &c.temp_dirs, &c.temp_dirs_len,
                          &pending, &pending_len))
        return NULL;
    if (pending != NULL && pending_len != REQUEST_SIZE) {
        PyErr_SetString(PyExc_ValueError, "pending request has the wrong size");
        return NULL;
    }
    /* tmp and shm sit next to home. */
    const char *slash = strrchr(c.home, '/');
    size_t parent = slash ? (size_t)(slash - c.home) : 0;
    if (parent + 5 >= sizeof c.tmp) {
        PyErr_SetString(PyExc_ValueError, "home path too long");
        return NULL;
    }
    memcpy(c.tmp, c.home, parent);
    memcpy(c.tmp + parent, "/tmp", 5);
    memcpy(c.shm, c.home, parent);
    memcpy(c.shm + parent, "/shm", 5);
    unsigned char request[REQUEST_SIZE];
    int have_request = 0;
    if (pending != NULL) {
        memcpy(request, pending, REQUEST_SIZE);
        have_request = 1;
    }
    for (;;) {
        if (!have_request) {
            ssize_t n;
            do {
                n = recv(ctl, request, sizeof request, 0);
            } while (n < 0 && errno == EINTR);
            if (n != REQUEST_SIZE) Py_RETURN_NONE;
            if (!area_clean(&c))
                return Py_BuildValue("sy#", "dirty", (const char *)request, (Py_ssize_t)REQUEST_SIZE);
        }
        have_request = 0;
        uint32_t words[REQUEST_WORDS];
        memcpy(words, request, sizeof words);
        const char *what = NULL;
        if (prepare_area(&c, words[4], &what) != 0) {
            send_error(ctl, what, errno);
            continue;
        }
        int out_fd = capture_file(c.sandbox_dir);
        if (out_fd < 0) {
            send_error(ctl, "capture file", errno);
            continue;
        }
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            send_error(ctl, "socketpair", errno);
            close(out_fd);
            continue;
        }
        long pid = syscall(SYS_clone, (long)(CLONE_PARENT | SIGCHLD) | c.clone_flags, 0L, 0L, 0L, 0L);
        if (pid == 0) {
            confine(ctl, sv[1], out_fd, &c, words);
            return PyUnicode_FromString("child");
        }
        if (pid < 0)
            send_error(ctl, "clone", errno);
        else
            (void)send_child(ctl, (int32_t)pid, sv[0], out_fd);
        close(sv[0]);
        close(sv[1]);
        close(out_fd);
    }
}

static PyMethodDef methods[] = {
    {"serve", serve, METH_VARARGS, "The zygote's clone loop (see the module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_clone_loop", "The zygote's clone loop in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__clone_loop(void) { return PyModule_Create(&module); }
