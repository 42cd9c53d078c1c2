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


def _spawn(ctl: socket.socket, request: dict, root: str, uid: int | None, counter: int,
           path_map: dict) -> None:
    workdir = os.path.join(root, f"j{counter}")
    os.mkdir(workdir, 0o700)
    out_path = os.path.join(root, f"j{counter}.out")
    out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    if uid is not None:
        os.chown(workdir, uid, uid)
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
            child.reopen_std_streams()
            child.serve(socket.socket(fileno=3))
        except BaseException:  # noqa: BLE001
            pass
        os._exit(71)
    os.close(out_fd)
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
        if os.path.getsize(out_path):
            with open(out_path, "rb") as f:
                report["output"] = f.read(OUTPUT_HEAD_BYTES).decode("utf-8", "replace")
        os.unlink(out_path)
    except OSError:
        pass
    _rmtree(workdir)
    ctl.send(json.dumps(report).encode())


def serve(ctl: socket.socket, slot: int) -> None:
    """Zygote main loop; exits when the supervisor closes the control socket."""
    ctypes.CDLL(None).prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    null_fd = os.open("/dev/null", os.O_RDWR)
    os.dup2(null_fd, 0)
    os.dup2(null_fd, 1)  # the supervisor's stdout is its result channel: never share it
    os.close(null_fd)
    report = isolation.setup_zygote_namespaces()
    isolation.prepare_zygote_process()
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
            _spawn(ctl, json.loads(data), report["sandbox_root"], uid, counter,
                   report.get("path_map") or {})
        except Exception as e:  # noqa: BLE001 - report and keep serving
            ctl.send(json.dumps({"spawn_error": f"{type(e).__name__}: {e}"}).encode())
