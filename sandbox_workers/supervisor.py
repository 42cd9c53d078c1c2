"""One slot of the executor: a trusted supervisor that runs jobs one at a time.

Run as `python -m sandbox_workers.supervisor SLOT`: reads job JSON lines on stdin, writes one
result JSON line per job on stdout (the first line is the slot's isolation report). It forks its
zygote before reading any job, drives each confined child over a socket, enforces every deadline
from outside, and evaluates the trusted side of each assert itself.
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import signal
import socket
import sys
import time
from collections import OrderedDict

from sandbox_workers import assert_split, frames, isolation, jobs, plain_data, zygote

# Imported before the zygote forks so children start warm (and share the pages).
PREIMPORT = ("collections itertools functools heapq bisect math cmath re string random "
             "statistics fractions decimal operator copy json typing dataclasses datetime "
             "enum abc array hashlib textwrap unicodedata numbers").split()
SPLIT_CACHE_SIZE = 8192


class _ChildTimeout(Exception):
    pass


class _ChildDied(Exception):
    pass


class _ChildMemory(Exception):
    pass


class _NotPlain(Exception):
    pass


class _CallError(Exception):
    pass


class _ParentTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _ParentTimeout()


class Supervisor:
    def __init__(self, slot: int):
        self.slot = slot
        self._splits: OrderedDict[str, object] = OrderedDict()
        ctl, ctl_zygote = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ctl.close()
            zygote.serve(ctl_zygote, slot)
            os._exit(0)
        ctl_zygote.close()
        self.ctl = ctl
        self.zygote_pid = pid
        self.isolation = json.loads(ctl.recv(65536))
        signal.signal(signal.SIGALRM, _on_alarm)

    # -- one job ---------------------------------------------------------------------------
    def _split(self, test: str):
        cached = self._splits.get(test)
        if cached is None:
            try:
                cached = assert_split.split_assert(test)
            except assert_split.InvalidTest as e:
                cached = e
            self._splits[test] = cached
            if len(self._splits) > SPLIT_CACHE_SIZE:
                self._splits.popitem(last=False)
        return cached

    def run(self, raw_job) -> dict:
        start = time.monotonic()
        try:
            job = jobs.validate(raw_job)
        except jobs.InvalidJob as e:
            return jobs.invalid_result(raw_job, str(e))
        splits = []
        for i, test in enumerate(job["tests"]):
            split = self._split(test)
            if isinstance(split, Exception):
                return jobs.invalid_result(raw_job, f"tests[{i}]: {split}")
            splits.append(split)
        timeout_s, n = job["timeout_s"], len(splits)
        spawn = {"memory_mb": job["memory_mb"], "cpu_s": int(math.ceil(timeout_s * (n + 1))) + 1}
        self.ctl.send(json.dumps(spawn).encode())
        data, fds, _, _ = socket.recv_fds(self.ctl, 65536, 1)
        if not data:
            raise RuntimeError("zygote exited")
        reply = json.loads(data)
        if "spawn_error" in reply:
            raise RuntimeError(f"zygote could not spawn a child: {reply['spawn_error']}")
        pid, sock = reply["pid"], socket.socket(fileno=fds[0])
        outcomes = ["not_run"] * n
        messages = [None] * n if job["details"] else None
        status, error = self._drive(job, splits, sock, outcomes, messages)
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        sock.close()
        exit_report = json.loads(self.ctl.recv(65536) or b"{}")
        extra = {}
        if status == "died":
            sig = exit_report.get("signal")
            if sig in (signal.SIGXCPU,):
                status, error = "timeout", "CPU time limit"
            else:
                status = "crash"
                error = f"child exited ({'signal ' + str(sig) if sig else 'code ' + str(exit_report.get('exit_code'))})"
        if messages is not None:
            extra["messages"] = messages
        if status != "ok":
            extra["error"] = error
            if exit_report.get("output"):
                extra["output"] = exit_report["output"]
        return jobs.make_result(job["id"], status, outcomes, time.monotonic() - start, **extra)

    def _drive(self, job, splits, sock, outcomes, messages):
        timeout_s = job["timeout_s"]
        try:
            frames.send_frame(sock, {"op": "load", "program": job["program"]})
            reply = frames.recv_frame(sock, time.monotonic() + timeout_s)
        except frames.FrameTimeout:
            return "timeout", "program did not finish loading in time"
        except (frames.FrameError, OSError):
            return "died", None
        if "syntax_error" in reply:
            return ("memory" if reply.get("memory") else "syntax_error"), str(reply["syntax_error"])[:500]
        if "ok" not in reply:
            return ("memory" if reply.get("memory") else "crash"), f"program raised at import: {str(reply.get('e'))[:500]}"

        def call(site, bindings):
            deadline = state["deadline"]
            try:
                bind = plain_data.dumps(bindings) if bindings else None
            except plain_data.NotPlainData as e:
                raise _CallError(f"binding is not plain data: {e}") from None
            try:
                frames.send_frame(sock, {"op": "call", "expr": site.source, "bind": bind})
                answer = frames.recv_frame(sock, deadline)
            except frames.FrameTimeout:
                raise _ChildTimeout() from None
            except (frames.FrameError, OSError):
                raise _ChildDied() from None
            if "v" in answer and type(answer["v"]) is str:
                try:
                    return plain_data.loads(answer["v"])
                except plain_data.NotPlainData as e:
                    raise _NotPlain(str(e)) from None
            if "not_plain" in answer:
                raise _NotPlain(str(answer["not_plain"])[:300])
            if answer.get("memory"):
                raise _ChildMemory()
            raise _CallError(str(answer.get("e"))[:300])

        state = {}
        for i, split in enumerate(splits):
            state["deadline"] = time.monotonic() + timeout_s
            signal.setitimer(signal.ITIMER_REAL, timeout_s + 0.5)
            try:
                outcomes[i] = "pass" if split.evaluate(call) else "fail"
            except _ChildTimeout:
                outcomes[i] = "timeout"
                return "timeout", f"tests[{i}] exceeded {timeout_s}s"
            except _ParentTimeout:
                outcomes[i] = "timeout"
                return "timeout", f"tests[{i}] exceeded {timeout_s}s"
            except _ChildDied:
                outcomes[i] = "error"
                return "died", None
            except _ChildMemory:
                outcomes[i] = "error"
                return "memory", f"tests[{i}] ran out of memory"
            except _NotPlain as e:
                outcomes[i] = "fail"
                if messages is not None:
                    messages[i] = f"not plain data: {e}"
            except Exception as e:  # noqa: BLE001 - call raised, or the trusted side raised
                outcomes[i] = "error"
                if messages is not None:
                    messages[i] = f"{type(e).__name__.lstrip('_')}: {str(e)[:300]}"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        return "ok", None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    slot = int(argv[0]) if argv else 0
    ctypes.CDLL(None).prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    for name in PREIMPORT:
        try:
            __import__(name)
        except ImportError:
            pass
    supervisor = Supervisor(slot)
    out = sys.stdout.buffer
    out.write(json.dumps({"ready": supervisor.isolation}).encode() + b"\n")
    out.flush()
    for line in sys.stdin.buffer:
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError) as e:
            result = jobs.invalid_result(None, f"job line is not valid JSON: {str(e)[:200]}")
        else:
            result = supervisor.run(raw)
        out.write(json.dumps(result).encode() + b"\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
