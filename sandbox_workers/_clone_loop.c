/* The zygote's per-program loop in C: receive a request, prepare the child's directory, capture
 * file and socket, clone the child as the supervisor's (CLONE_PARENT), hand the supervisor its
 * ends, repeat. It returns to Python only in a new child, or when Python has to act.
 *
 * Why C: after every clone all of the zygote's pages are shared copy-on-write with the child,
 * so each page the zygote writes before the next clone costs a page copy. A Python loop writes
 * dozens of pages per iteration (frames, objects, reference counts); this loop writes its own
 * stack only. The protocol is the one zygote.py documents; zygote.py keeps a Python loop with
 * the same behaviour for interpreters where this extension was not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
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

#define REQUEST_SIZE 12 /* zygote.REQUEST: three native uint32 */

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
static int capture_file(const char *root) {
    int fd = open(root, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/capture-%ld", root, (long)getpid()) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) unlink(path);
    return fd;
}

/* The child's confinement, the same steps as isolation.confine_child (for a child of a prepared
 * zygote) after _run_child's fd wiring, done here so the child runs no Python until confined:
 * in Python those steps wrote ~75 of the zygote's pages (each a copy-on-write fault) and took
 * ~180 us per program. Any failure ends the child (exit code 71; 70 when the supervisor is gone). */
static void confine(int sock_fd, int out_fd, const char *workdir, int uid, pid_t supervisor,
                    const uint32_t request[3]) {
    if (setpgid(0, 0) != 0) _exit(71);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) _exit(71);
    if (getppid() != supervisor) _exit(70);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 ||
        dup2(sock_fd, 3) < 0)
        _exit(71);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0)
#endif
        for (int fd = 4; fd < 65536; fd++) close(fd);
    if (chdir(workdir) != 0) _exit(71);
    /* isolation.set_limits: address space, CPU s, file size, open files, core, processes (and
     * threads), locked memory; hard == soft, never above the current hard limit. */
    const struct { int resource; rlim_t value; } limits[] = {
        {RLIMIT_AS, (rlim_t)request[0] * 1024 * 1024}, {RLIMIT_CPU, (rlim_t)request[1]},
        {RLIMIT_FSIZE, (rlim_t)request[2] * 1024 * 1024}, {RLIMIT_NOFILE, 64}, {RLIMIT_CORE, 0},
        {RLIMIT_NPROC, 1}, {RLIMIT_MEMLOCK, 0},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        struct rlimit current;
        if (getrlimit(limits[i].resource, &current) != 0) _exit(71);
        rlim_t value = limits[i].value;
        if (current.rlim_max != RLIM_INFINITY && value > current.rlim_max) value = current.rlim_max;
        struct rlimit next = {value, value};
        if (setrlimit(limits[i].resource, &next) != 0) _exit(71);
    }
    if (uid >= 0) {
        if (setgroups(0, NULL) != 0 || setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) != 0 ||
            setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
            _exit(71);
    }
}

/* serve(ctl_fd, root, workdir, uid, supervisor_pid, pending) -> None | "child" | ("dirty", request)
 * None: the supervisor closed the control socket. "child": we are the new child, confined, with
 * its socket on fd 3 and its capture file on fds 1 and 2. "dirty": the previous child's
 * directory is not empty; Python removes it and calls again with the request as `pending`.
 * uid < 0: no uid to drop to. */
static PyObject *serve(PyObject *Py_UNUSED(self), PyObject *args) {
    int ctl, uid, supervisor;
    const char *root, *workdir;
    const char *pending = NULL;
    Py_ssize_t pending_len = 0;
    if (!PyArg_ParseTuple(args, "issii|z#", &ctl, &root, &workdir, &uid, &supervisor, &pending,
                          &pending_len))
        return NULL;
    if (pending != NULL && pending_len != REQUEST_SIZE) {
        PyErr_SetString(PyExc_ValueError, "pending request has the wrong size");
        return NULL;
    }
    long clone_number = SYS_clone;
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
            if (rmdir(workdir) != 0 && errno != ENOENT)
                return Py_BuildValue("sy#", "dirty", (const char *)request, (Py_ssize_t)REQUEST_SIZE);
        }
        have_request = 0;
        if (mkdir(workdir, 0700) != 0) {
            send_error(ctl, "mkdir", errno);
            continue;
        }
        if (uid >= 0 && chown(workdir, (uid_t)uid, (gid_t)uid) != 0) {
            send_error(ctl, "chown", errno);
            continue;
        }
        int out_fd = capture_file(root);
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
        long pid = syscall(clone_number, (long)(CLONE_PARENT | SIGCHLD), 0L, 0L, 0L, 0L);
        if (pid == 0) {
            uint32_t limits[3];
            memcpy(limits, request, sizeof limits);
            confine(sv[1], out_fd, workdir, uid, (pid_t)supervisor, limits);
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
