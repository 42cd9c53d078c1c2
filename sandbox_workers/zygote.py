"""The zygote: a clean, pre-warmed interpreter that clones one confined child per program.

The supervisor starts it with exec (`python -S -m sandbox_workers.zygote FD`) before it
reads any job, so the zygote's memory, and every child's, holds only the sandbox's own code and
the pre-imported modules: no tests, expected values, secrets, or the supervisor's heap.
Everything a child inherits is cheaper to clone, to fault in and to tear down when small.

Before serving, the zygote confines itself (isolation.setup_zygote: namespaces and the minimal
root, or Landlock); children inherit that and are cloned into namespaces of their own.
Children are cloned with CLONE_PARENT: they are the supervisor's children, so the supervisor
reaps them and reads their exit status itself, and the zygote never wakes up when one dies.
Per program the zygote only prepares the child's area, capture file and socket, clones, and
hands the supervisor its ends. Every page the zygote writes after a clone is a copy-on-write
fault, so that loop runs in C (_clone_loop.c) where the extension was built, and otherwise in as
little Python as it can (`_serve_python`, same protocol).

Protocol over a SOCK_SEQPACKET pair: at start the zygote sends its isolation report (JSON);
then per program the supervisor sends REQUEST (memory_mb, cpu_s, file_mb, nproc, tmpfs_mb) and
the zygote answers REPLY (pid) with the child's socket and its stdout/stderr capture file
attached, or REPLY(0) + b"E" + a message when it could not spawn.
"""
from __future__ import annotations

import _socket
import ctypes
import gc
import json
import os
import signal
import socket
import struct
import sys

from sandbox_workers import child, isolation, rootfs

try:  # the C clone loop, built by setup.py where a compiler is available
    from sandbox_workers import _clone_loop
except ImportError:
    _clone_loop = None
if os.environ.get("SANDBOX_PYTHON_CLONE_LOOP") == "1":  # tests and debugging: the fallback loop
    _clone_loop = None

REQUEST = struct.Struct("=IIIII")
REPLY = struct.Struct("=i")

# Imported before the first clone so programs that use them start warm, sharing the pages.
# Kept to what generated programs import most: every module here makes each clone and each
# child exit slower (more page tables and mappings to copy and tear down; the 11 below against
# 27 that add random, decimal, fractions, statistics, datetime, dataclasses, hashlib, ... measured
# 4-5% more HumanEval programs/s), while a module left out costs only the programs that import
# it, a few ms each. `SandboxPool(preimport=...)` / `--preimport` choose another set.
DEFAULT_PREIMPORT = ("typing", "collections", "itertools", "functools", "heapq", "bisect", "math",
                     "re", "string", "operator", "copy")

CLONE_PARENT = 0x00008000
# clone(2) with only flags set behaves like fork(2) on these (argument order differs, and is
# irrelevant when the other arguments are 0).
_SYS_CLONE = {"x86_64": 56, "amd64": 56, "aarch64": 220, "arm64": 220, "riscv64": 220,
              "ppc64le": 120}

_libc = ctypes.PyDLL(None, use_errno=True)  # PyDLL: the call keeps the GIL, as fork needs


def _clone_call(flags: int):
    """syscall(SYS_clone, CLONE_PARENT | SIGCHLD | flags, 0, 0, 0, 0) with its arguments
    converted once: per-call argument conversion writes fresh objects, and every page the
    zygote writes after a clone is a copy-on-write fault."""
    number = _SYS_CLONE.get(os.uname().machine.lower())
    if number is None:
        return None
    syscall = ctypes.PyDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    args = tuple(ctypes.c_long(v) for v in (number, CLONE_PARENT | signal.SIGCHLD | flags, 0, 0, 0, 0))
    return lambda: syscall(*args)


def clone_sibling(clone) -> int:
    """fork(), except the child's parent is our parent (the supervisor), the child gets its own
    namespaces, and without Python's at-fork machinery: the zygote is single-threaded and its
    children never return to it, so re-initialising thread state and running at-fork hooks (e.g.
    `random` reseeding from /dev/urandom) in every child would only cost time. 0 in the child."""
    if clone is None:
        raise OSError(f"sandbox zygote: no clone syscall number for {os.uname().machine}")
    pid = clone()
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


def _capture_file(directory: str) -> int:
    """An unnamed file for the child's stdout/stderr (size-bounded by RLIMIT_FSIZE)."""
    try:
        return os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except (OSError, AttributeError):  # no O_TMPFILE on this filesystem: a name, unlinked at once
        path = os.path.join(directory, f"capture-{os.getpid()}")
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
        os.unlink(path)
        return fd


def _run_child(ctl_fd: int, c_fd: int, out_fd: int, request: tuple,
               confinement: isolation.Confinement) -> None:
    """In the cloned child: wire up fds 0-3, confine, serve. Never returns."""
    try:
        ctl_copy = os.dup(ctl_fd)  # (fds 0-3 are about to be replaced)
        null_fd = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.dup2(c_fd, 3)
        if ctl_copy <= 3:
            ctl_copy = os.dup(ctl_copy) if ctl_copy == 3 else ctl_copy
        os.closerange(4, ctl_copy)
        os.closerange(ctl_copy + 1, 65536)
        isolation.confine_child(confinement, request, ctl_copy)
        os.close(ctl_copy)
        child.serve(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=3))
    except BaseException:  # noqa: BLE001
        pass
    os._exit(71)


_FDS = struct.Struct("=ii")


def _spawn(ctl: socket.socket, request: tuple, confinement: isolation.Confinement, clone) -> None:
    # Plain fds and C-level socket objects: less Python per clone, fewer pages written (each
    # page the zygote writes after a clone is a copy-on-write fault).
    isolation.fresh_sandbox(confinement, request[4])
    out_fd = _capture_file(confinement.sandbox_dir)
    s_end, c_end = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        pid = clone_sibling(clone)
        if pid == 0:
            _run_child(ctl.fileno(), c_end.fileno(), out_fd, request, confinement)
        ctl.sendmsg([REPLY.pack(pid)], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                         _FDS.pack(s_end.fileno(), out_fd))])
    finally:
        c_end.close()
        s_end.close()
        os.close(out_fd)


def serve(ctl: socket.socket) -> None:
    """Zygote main loop; exits when the supervisor closes the control socket. The first message
    is the configuration (JSON: uid, preimport, view), so no argv of a child's shows it."""
    config = json.loads(ctl.recv(1 << 20) or b"{}")
    supervisor_pid = os.getppid()
    _libc.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != supervisor_pid:  # the supervisor died before the death signal was armed
        os._exit(0)
    null_fd = os.open("/dev/null", os.O_RDWR)
    os.dup2(null_fd, 0)
    os.dup2(null_fd, 1)  # never write into the supervisor's streams
    os.close(null_fd)
    report, confinement = isolation.setup_zygote(config.get("uid"), rootfs.View(**config["view"]))
    isolation.prepare_zygote_process(confinement)
    preimport = config.get("preimport")
    for name in DEFAULT_PREIMPORT if preimport is None else preimport:
        try:
            __import__(name)
        except Exception as e:  # noqa: BLE001 - a missing or broken module is the program's problem
            report.setdefault("preimport_errors", {})[name] = f"{type(e).__name__}: {str(e)[:200]}"
    # Text streams over fds 0-2, made once: each child dups its capture file onto fds 1 and 2
    # before any code runs, and the zygote never writes, so no buffered output is inherited.
    child.reopen_std_streams()
    child.warm_up()
    gc.freeze()  # children's collections never walk (and copy-on-write) the zygote's objects
    _libc.malloc_trim(0)
    report["clone_loop"] = "c" if _clone_loop is not None else "python"
    ctl.send(json.dumps(report).encode())
    if _clone_loop is not None:
        _serve_c(ctl, confinement)
    else:
        _serve_python(ctl, confinement)
    os._exit(0)


def _serve_c(ctl, confinement: isolation.Confinement) -> None:
    pending = None
    while True:
        step = _clone_loop.serve(ctl.fileno(), confinement.as_tuple(), pending)
        pending = None
        if step is None:
            return
        if step[0] == "dirty":  # the previous program left files: clean up here, then go on
            try:
                isolation.clear_area(confinement)
            except OSError as e:
                ctl.send(REPLY.pack(0) + b"E" + f"{type(e).__name__}: {e}".encode()[:4000])
                continue
            pending = step[1]
            continue
        # The new child, already confined by the C loop (fd 3: its socket; 1, 2: capture file).
        try:
            child.serve(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=3))
        except BaseException:  # noqa: BLE001
            pass
        os._exit(71)


def _serve_python(ctl, confinement: isolation.Confinement) -> None:
    clone = _clone_call(confinement.clone_flags)
    while True:
        data = ctl.recv(REQUEST.size)
        if len(data) != REQUEST.size:
            return
        try:
            _spawn(ctl, REQUEST.unpack(data), confinement, clone)
        except Exception as e:  # noqa: BLE001 - report and keep serving
            ctl.send(REPLY.pack(0) + b"E" + f"{type(e).__name__}: {e}".encode()[:4000])


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
