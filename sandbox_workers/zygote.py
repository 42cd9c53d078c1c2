"""The zygote: a clean, pre-warmed interpreter that clones one confined child per program.

The supervisor starts it with exec (`python -S -m sandbox_workers.zygote FD SLOT [MODULES]`)
before it reads any job, so the zygote's memory, and every child's, holds only the sandbox's
own code and the pre-imported modules: no tests, expected values, secrets, or the supervisor's
heap. Everything a child inherits is cheaper to clone, to fault in and to tear down when small.

Children are cloned with CLONE_PARENT: they are the supervisor's children, so the supervisor
reaps them and reads their exit status itself, and the zygote never wakes up when one dies.
Per program the zygote only prepares the child's directory, capture file and socket, clones,
and hands the supervisor its ends. Every page the zygote writes after a clone is a
copy-on-write fault, so that loop runs in C (_clone_loop.c) where the extension was built, and
otherwise in as little Python as it can (`_serve_python`, same protocol).

Protocol over a SOCK_SEQPACKET pair: at start the zygote sends its isolation report (JSON);
then per program the supervisor sends REQUEST (memory_mb, cpu_s, file_mb) and the zygote
answers REPLY (pid) with the child's socket and its stdout/stderr capture file attached, or
REPLY(0) + b"E" + a message when it could not spawn. The previous child's directory is removed
when the next one is prepared (the supervisor has reaped it by then) and when the zygote exits.
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

from sandbox_workers import child, isolation

try:  # the C clone loop, built by setup.py where a compiler is available
    from sandbox_workers import _clone_loop
except ImportError:
    _clone_loop = None
if os.environ.get("SANDBOX_PYTHON_CLONE_LOOP") == "1":  # tests and debugging: the fallback loop
    _clone_loop = None

REQUEST = struct.Struct("=III")
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


def _clone_call():
    """syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0) with its arguments converted once:
    per-call argument conversion writes fresh objects, and every page the zygote writes after
    a clone is a copy-on-write fault."""
    number = _SYS_CLONE.get(os.uname().machine.lower())
    if number is None:
        return None
    syscall = ctypes.PyDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    args = tuple(ctypes.c_long(v) for v in (number, CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0))
    return lambda: syscall(*args)


_clone = _clone_call()


def clone_sibling() -> int:
    """fork(), except the child's parent is our parent (the supervisor), and without Python's
    at-fork machinery: the zygote is single-threaded and its children never return to it, so
    re-initialising thread state and running at-fork hooks (e.g. `random` reseeding from
    /dev/urandom) in every child would only cost time. Returns 0 in the child."""
    if _clone is None:
        raise OSError(f"sandbox zygote: no clone syscall number for {os.uname().machine}")
    pid = _clone()
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


def _remove_dir(path: str) -> None:
    """Remove a child's directory and whatever the program left in it (shutil.rmtree would pull
    shutil's compression modules into the zygote, and into every child's page tables)."""
    try:
        os.rmdir(path)  # the common case: the program left nothing behind
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files + dirs:
            target = os.path.join(root, name)
            try:
                os.chmod(root, 0o700)  # the program may have made its own dirs read-only
                if name in dirs and not os.path.islink(target):
                    os.rmdir(target)
                else:
                    os.unlink(target)
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def _fresh_dir(path: str, uid: int | None, tag: int, create: bool = True) -> None:
    """Create the child's private directory at `path`, removing the previous child's."""
    try:
        os.rmdir(path)  # the common case: the previous child left its directory empty
    except OSError:
        _remove_dir(path)
    if os.path.lexists(path):  # could not be removed: keep it out of the way for good
        os.rename(path, f"{path}.stale{tag}")
    if create:
        os.mkdir(path, 0o700)
        if uid is not None:
            os.chown(path, uid, uid)


def _capture_file(root: str) -> int:
    """An unnamed file for the child's stdout/stderr (size-bounded by RLIMIT_FSIZE)."""
    try:
        return os.open(root, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except (OSError, AttributeError):  # no O_TMPFILE on this filesystem: a name, unlinked at once
        path = os.path.join(root, f"capture-{os.getpid()}")
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
        os.unlink(path)
        return fd


def _run_child(c_fd: int, out_fd: int, request: tuple, workdir: str, uid: int | None,
               zygote_pid: int, supervisor_pid: int, path_map: dict) -> None:
    """In the cloned child: wire up fds 0-3, confine, serve the plan. Never returns."""
    try:
        null_fd = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.dup2(c_fd, 3)
        os.closerange(4, 65536)
        memory_mb, cpu_s, file_mb = request
        isolation.confine_child(workdir=workdir, uid=uid, parent_pid=supervisor_pid,
                                prepared_by=zygote_pid, memory_mb=memory_mb, cpu_s=cpu_s,
                                file_mb=file_mb, path_map=path_map)
        child.serve(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=3))
    except BaseException:  # noqa: BLE001
        pass
    os._exit(71)


_FDS = struct.Struct("=ii")


def _spawn(ctl: socket.socket, request: tuple, root: str, workdir: str, uid: int | None,
           counter: int, zygote_pid: int, supervisor_pid: int, path_map: dict) -> None:
    # Plain fds and C-level socket objects: less Python per clone, fewer pages written (each
    # page the zygote writes after a clone is a copy-on-write fault).
    _fresh_dir(workdir, uid, counter)
    out_fd = _capture_file(root)
    s_end, c_end = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        pid = clone_sibling()
        if pid == 0:
            _run_child(c_end.fileno(), out_fd, request, workdir, uid, zygote_pid, supervisor_pid,
                       path_map)
        ctl.sendmsg([REPLY.pack(pid)], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                         _FDS.pack(s_end.fileno(), out_fd))])
    finally:
        c_end.close()
        s_end.close()
        os.close(out_fd)


def serve(ctl: socket.socket, slot: int, preimport=DEFAULT_PREIMPORT) -> None:
    """Zygote main loop; exits when the supervisor closes the control socket."""
    supervisor_pid = os.getppid()
    _libc.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != supervisor_pid:  # the supervisor died before the death signal was armed
        os._exit(0)
    null_fd = os.open("/dev/null", os.O_RDWR)
    os.dup2(null_fd, 0)
    os.dup2(null_fd, 1)  # never write into the supervisor's streams
    os.close(null_fd)
    report = isolation.setup_zygote_namespaces()
    root = report["sandbox_root"]
    workdir = os.path.join(root, "w")  # one child at a time: the same path, recreated for each
    path_map = report.get("path_map") or {}
    isolation.prepare_zygote_process(workdir, path_map)
    for name in preimport:
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
    uid = isolation.SANDBOX_UID_BASE + slot if report["uid_drop"] else None
    report["uid"] = uid
    report["clone_loop"] = "c" if _clone_loop is not None else "python"
    ctl.send(json.dumps(report).encode())
    if _clone_loop is not None:
        _serve_c(ctl, root, workdir, uid, supervisor_pid)
    else:
        _serve_python(ctl, root, workdir, uid, os.getpid(), supervisor_pid, path_map)
    _remove_dir(workdir)
    if not report["mountns"]:  # a private tmpfs vanishes with the namespace
        _remove_dir(root)
    os._exit(0)


def _serve_c(ctl, root, workdir, uid, supervisor_pid) -> None:
    pending, cleanups = None, 0
    while True:
        step = _clone_loop.serve(ctl.fileno(), root, workdir, -1 if uid is None else uid, supervisor_pid,
                                 pending)
        pending = None
        if step is None:
            return
        if step[0] == "dirty":  # the previous program left files: clean up here, then go on
            cleanups += 1
            try:
                _fresh_dir(workdir, None, cleanups, create=False)
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


def _serve_python(ctl, root, workdir, uid, zygote_pid, supervisor_pid, path_map) -> None:
    counter = 0
    while True:
        data = ctl.recv(REQUEST.size)
        if len(data) != REQUEST.size:
            return
        counter += 1
        try:
            _spawn(ctl, REQUEST.unpack(data), root, workdir, uid, counter, zygote_pid, supervisor_pid,
                   path_map)
        except Exception as e:  # noqa: BLE001 - report and keep serving
            ctl.send(REPLY.pack(0) + b"E" + f"{type(e).__name__}: {e}".encode()[:4000])


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), int(sys.argv[2]),
          *([m for m in sys.argv[3].split(",") if m],) if len(sys.argv) > 3 else ())
