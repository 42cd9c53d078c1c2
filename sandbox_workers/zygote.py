"""The zygote: a clean, pre-warmed process that forks one confined child per program.

It is forked by the supervisor before the supervisor reads any job, so its memory (and every
child's) holds no tests, expected values or secrets. It only receives limits, never programs.
Protocol over a SOCK_SEQPACKET pair: {"memory_mb", "cpu_s", "file_mb"} -> {"pid"} with the
supervisor's end of a fresh socketpair attached; after the child is reaped and its directory
removed: {"exit_code" | "signal", "output"}.
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import shutil
import signal
import socket
import tempfile

from sandbox_workers import child, isolation

OUTPUT_HEAD_BYTES = 2048


def _rmtree(path: str) -> None:
    def force(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=force)


def _remove_dir(path: str) -> None:
    try:
        os.rmdir(path)  # the common case: the program left nothing behind
    except FileNotFoundError:
        pass
    except OSError:
        _rmtree(path)


def _fresh_dir(path: str, uid: int | None, counter: int) -> None:
    """Create the child's private directory at `path`, moving aside anything left there."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        _remove_dir(path)
        if os.path.lexists(path):  # could not be removed: keep it out of the way for good
            os.rename(path, f"{path}.stale{counter}")
        os.mkdir(path, 0o700)
    if uid is not None:
        os.chown(path, uid, uid)


def _capture_file(root: str) -> int:
    """An unnamed file for the child's stdout/stderr (size-bounded by RLIMIT_FSIZE)."""
    try:
        return os.open(root, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except (OSError, AttributeError):  # no O_TMPFILE on this filesystem: a name, unlinked at once
        fd, path = tempfile.mkstemp(dir=root)
        os.unlink(path)
        return fd


def _spawn(ctl: socket.socket, request: dict, root: str, workdir: str, uid: int | None, counter: int,
           path_map: dict) -> None:
    _fresh_dir(workdir, uid, counter)
    out_fd = _capture_file(root)
    s_end, c_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    zygote_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            c_fd = os.dup(c_end.detach())
            ctl.detach()
            s_end.detach()
            null_fd = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null_fd, 0)
            os.dup2(out_fd, 1)
            os.dup2(out_fd, 2)
            os.dup2(c_fd, 3)
            os.closerange(4, 65536)
            isolation.confine_child(workdir=workdir, uid=uid, parent_pid=zygote_pid,
                                    memory_mb=int(request["memory_mb"]), cpu_s=int(request["cpu_s"]),
                                    file_mb=int(request.get("file_mb", 16)), path_map=path_map)
            child.serve(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=3))
        except BaseException:  # noqa: BLE001
            pass
        os._exit(71)
    c_end.close()
    socket.send_fds(ctl, [json.dumps({"pid": pid}).encode()], [s_end.fileno()])
    s_end.close()
    _, status = os.waitpid(pid, 0)
    try:
        os.killpg(pid, signal.SIGKILL)  # anything left in the program's group
    except (ProcessLookupError, PermissionError):
        pass
    report: dict = {"pid": pid}
    if os.WIFSIGNALED(status):
        report["signal"] = os.WTERMSIG(status)
    else:
        report["exit_code"] = os.WEXITSTATUS(status)
    try:
        head = os.pread(out_fd, OUTPUT_HEAD_BYTES, 0)
        if head:
            report["output"] = head.decode("utf-8", "replace")
    except OSError:
        pass
    os.close(out_fd)
    _remove_dir(workdir)
    ctl.send(json.dumps(report).encode())


def serve(ctl: socket.socket, slot: int) -> None:
    """Zygote main loop; exits when the supervisor closes the control socket."""
    ctypes.CDLL(None).prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    null_fd = os.open("/dev/null", os.O_RDWR)
    os.dup2(null_fd, 0)
    os.dup2(null_fd, 1)  # the supervisor's stdout is its result channel: never share it
    os.close(null_fd)
    report = isolation.setup_zygote_namespaces()
    root = report["sandbox_root"]
    workdir = os.path.join(root, "w")  # one child at a time: the same path, recreated for each
    path_map = report.get("path_map") or {}
    isolation.prepare_zygote_process(workdir, path_map)
    # Text streams over fds 0-2, made once: each child dups its capture file onto fds 1 and 2
    # before any code runs, and the zygote never writes, so no buffered output is inherited.
    child.reopen_std_streams()
    child.warm_up()
    gc.freeze()  # children's collections never walk (and copy-on-write) the zygote's objects
    uid = isolation.SANDBOX_UID_BASE + slot if report["uid_drop"] else None
    report["uid"] = uid
    ctl.send(json.dumps(report).encode())
    counter = 0
    while True:
        data = ctl.recv(65536)
        if not data:
            os._exit(0)
        counter += 1
        try:
            _spawn(ctl, json.loads(data), root, workdir, uid, counter, path_map)
        except Exception as e:  # noqa: BLE001 - report and keep serving
            ctl.send(json.dumps({"spawn_error": f"{type(e).__name__}: {e}"}).encode())
