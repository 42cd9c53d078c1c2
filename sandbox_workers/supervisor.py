"""One slot of the executor: a trusted supervisor that runs jobs one at a time.

Run as `python -m sandbox_workers.supervisor SLOT [CPU]`: reads job JSON lines on stdin, writes one
result JSON line per job on stdout (the first line is the slot's isolation report). It starts its
zygote before reading any job, drives each confined child over a socket, enforces every deadline
from outside, evaluates the trusted side of each assert itself, and reaps the child (children are
cloned as the supervisor's own, see zygote.py).
"""
from __future__ import annotations

import collections
import ctypes
import gc
import json
import marshal
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections import OrderedDict

from sandbox_workers import assert_split, frames, isolation, jobs, plain_data, zygote
SPLIT_CACHE_SIZE = 8192
OUTPUT_HEAD_BYTES = 2048


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
    def __init__(self, slot: int, preimport: list[str] | None = None):
        self.slot = slot
        self._splits: OrderedDict[str, object] = OrderedDict()
        ctl, ctl_zygote = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # A fresh interpreter (exec, not fork): the zygote's memory never held the supervisor's.
        # LD_BIND_NOW: the zygote resolves every dynamic symbol once at start, so children do
        # not each resolve (and copy-on-write the GOT for) functions the zygote never called.
        self.zygote = subprocess.Popen(
            [sys.executable, "-S", "-m", "sandbox_workers.zygote", str(ctl_zygote.fileno()), str(slot)]
            + ([] if preimport is None else [",".join(preimport)]),
            pass_fds=[ctl_zygote.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            env=dict(os.environ, LD_BIND_NOW="1"))
        ctl_zygote.close()
        self.ctl = ctl
        ready = ctl.recv(65536)
        if not ready:
            raise RuntimeError(f"sandbox zygote exited at start (code {self.zygote.wait()})")
        self.isolation = json.loads(ready)
        signal.signal(signal.SIGALRM, _on_alarm)

    def close(self) -> None:
        """Stop the zygote and wait for it: it removes its sandbox directories on the way out
        (our exit would SIGKILL it through its death signal before it could)."""
        self.ctl.close()
        try:
            self.zygote.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.zygote.kill()
            self.zygote.wait()

    # -- one job ---------------------------------------------------------------------------
    def _split(self, test: str):
        """(SplitAssert, its plan frame for the child or None), or InvalidTest; cached."""
        cached = self._splits.get(test)
        if cached is None:
            try:
                split = assert_split.split_assert(test)
                cached = (split, _plan_entry(split) if split.calls else None)
            except assert_split.InvalidTest as e:
                cached = e
            except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
                cached = assert_split.InvalidTest(f"cannot compile a call site: {type(e).__name__}")
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
        splits, plan = [], []
        for i, test in enumerate(job["tests"]):
            cached = self._split(test)
            if isinstance(cached, Exception):
                return jobs.invalid_result(raw_job, f"tests[{i}]: {cached}")
            splits.append(cached[0])
            plan.append(cached[1])
        timeout_s, n = job["timeout_s"], len(splits)
        cpu_s = int(math.ceil(timeout_s * (n + 1))) + 1
        self.ctl.send(zygote.REQUEST.pack(job["memory_mb"], cpu_s, 16))
        data, fds, _, _ = socket.recv_fds(self.ctl, 4096, 2)
        if len(data) != zygote.REPLY.size or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            if not data:
                raise RuntimeError(f"sandbox zygote exited (code {self.zygote.wait()})")
            raise RuntimeError(f"zygote could not spawn a child: {data[zygote.REPLY.size + 1:].decode(errors='replace')}")
        (pid,) = zygote.REPLY.unpack(data)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=fds[0])
        output_fd = fds[1]
        outcomes = ["not_run"] * n
        messages = [None] * n if job["details"] else None
        try:
            status, error = self._drive(job, splits, plan, sock, outcomes, messages)
        finally:
            sock.close()
            wait_status = _kill_and_reap(pid)
        extra = {}
        if status == "died":
            if os.WIFSIGNALED(wait_status) and os.WTERMSIG(wait_status) == signal.SIGXCPU:
                status, error = "timeout", "CPU time limit"
            else:
                status = "crash"
                error = (f"child exited (signal {os.WTERMSIG(wait_status)})" if os.WIFSIGNALED(wait_status)
                         else f"child exited (code {os.waitstatus_to_exitcode(wait_status)})")
        if messages is not None:
            extra["messages"] = messages
        if status != "ok":
            extra["error"] = error
            output = _output_head(output_fd)
            if output:
                extra["output"] = output
        os.close(output_fd)
        return jobs.make_result(job["id"], status, outcomes, time.monotonic() - start, **extra)

    def _drive(self, job, splits, plan, sock, outcomes, messages):
        timeout_s = job["timeout_s"]
        reader = frames.FrameReader(sock)
        try:
            entries = [entry for entry in plan if entry is not None]
            _send_joined(sock, [frames.encode_frame({"program": job["program"], "tests": len(entries)}),
                                *entries])
            reply = _read_reply(reader, time.monotonic() + timeout_s)
        except _ChildTimeout:
            return "timeout", "program did not finish loading in time"
        except (_ChildDied, OSError):
            return "died", None
        if len(reply) != 3 and reply != ["ok"]:
            return "died", None
        if reply[0] == "syntax":
            return ("memory" if reply[2] is True else "syntax_error"), str(reply[1])[:500]
        if reply[0] != "ok":
            return ("memory" if reply[2] is True else "crash"), f"program raised at import: {str(reply[1])[:500]}"

        for i, split in enumerate(splits):
            interactive = bool(split.calls) and not split.eager
            try:
                if not split.calls:
                    evaluate = _no_calls
                elif split.eager:
                    answer = _read_reply(reader, reader.arrival + timeout_s)
                    evaluate = _replay(_test_answer(answer), split.calls)
                else:
                    evaluate = _interactive(sock, reader, time.monotonic() + timeout_s)
                signal.setitimer(signal.ITIMER_REAL, timeout_s + 0.5)
                try:
                    outcomes[i] = "pass" if split.evaluate(evaluate) else "fail"
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except (_ChildTimeout, _ParentTimeout):
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
            if interactive:  # the child waits in its call loop until told to move on
                try:
                    frames.send_frame(sock, {"op": "next"})
                except OSError:
                    return "died", None
        return "ok", None


def _kill_and_reap(pid: int) -> int:
    """SIGKILL the child's process group (every child ends this way) and reap the child."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:  # already reaped: cannot happen for our own child
            return 0


def _output_head(fd: int) -> str | None:
    """The start of what the child wrote to stdout/stderr (its capture file), for error reports."""
    try:
        head = os.pread(fd, OUTPUT_HEAD_BYTES, 0)
    except OSError:
        return None
    return head.decode("utf-8", "replace") if head else None


def _send_joined(sock, pieces: list[bytes], batch_bytes: int = 1 << 22) -> None:
    """Send frames with few syscalls but without building one huge buffer."""
    batch, size = [], 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= batch_bytes:
            sock.sendall(b"".join(batch))
            batch, size = [], 0
    if batch:
        sock.sendall(b"".join(batch))


def _plan_entry(split) -> bytes:
    """The child's plan frame for a test that calls the program: its call sites compiled here
    (from sources the splitter wrote, so trusted; children skip the compiler) when eager, or
    None when interactive. Cached with the split, so tests shared by many jobs cost nothing."""
    code = [compile(c.source, "<test>", "eval") for c in split.calls] if split.eager else None
    payload = marshal.dumps(code)
    if len(payload) > frames.MAX_FRAME:
        raise assert_split.InvalidTest(f"call sites of {len(payload)} bytes are over the {frames.MAX_FRAME} limit")
    return frames.HEADER.pack(len(payload)) + payload


def _read_reply(reader: frames.FrameReader, deadline: float) -> list:
    """One reply from the child as rebuilt plain data; anything malformed ends the child."""
    try:
        payload = reader.read(deadline)
    except frames.FrameTimeout:
        raise _ChildTimeout() from None
    except (frames.FrameError, OSError):
        raise _ChildDied() from None
    try:
        reply = plain_data.loads(payload)
    except plain_data.NotPlainData:
        raise _ChildDied() from None
    if type(reply) is not list or not reply or type(reply[0]) is not str:
        raise _ChildDied()
    return reply


def _test_answer(reply: list) -> tuple[list, BaseException | None]:
    """(values of the calls that returned, the exception of the call that stopped the test)."""
    tag = reply[0]
    if len(reply) < 2 or type(reply[1]) is not list:
        raise _ChildDied()
    values = reply[1]
    if tag == "v" and len(reply) == 2:
        return values, None
    if tag == "e" and len(reply) == 4:
        return values, _ChildMemory() if reply[3] is True else _CallError(str(reply[2])[:300])
    if tag == "np" and len(reply) == 3:
        return values, _NotPlain(str(reply[2])[:300])
    raise _ChildDied()


def _replay(answer: tuple[list, BaseException | None], sites: tuple):
    """The call hook of an eager test: hand out the child's values in call order."""
    values, stop = answer
    expected = [0]

    def call(site, bindings):
        index = expected[0]
        expected[0] += 1
        if index >= len(sites) or site is not sites[index]:
            raise _CallError("call sites evaluated out of order (an eager split is wrong)")
        if index < len(values):
            return values[index]
        if index == len(values) and stop is not None:
            raise stop
        raise _CallError("the sandbox child answered fewer calls than the test makes")
    return call


def _no_calls(site, bindings):
    raise _CallError("test has no call sites")


def _interactive(sock, reader: frames.FrameReader, deadline: float):
    """The call hook of a test with conditional calls: one round trip per call."""
    def call(site, bindings):
        try:
            bind = plain_data.dumps(bindings) if bindings else None
        except plain_data.NotPlainData as e:
            raise _CallError(f"binding is not plain data: {e}") from None
        try:
            frames.send_frame(sock, {"op": "call", "expr": site.source, "bind": bind})
        except OSError:
            raise _ChildDied() from None
        values, stop = _test_answer(_read_reply(reader, deadline))
        if values:
            if len(values) != 1 or stop is not None:
                raise _ChildDied()
            return values[0]
        if stop is None:
            raise _ChildDied()
        raise stop
    return call


def main(argv=None) -> int:
    """argv: SLOT [CPU|- [MODULES]]; with CPU, the slot (supervisor, zygote, children) stays on that
    core; MODULES (comma-separated) replaces the zygote's default pre-imports."""
    argv = sys.argv[1:] if argv is None else argv
    slot = int(argv[0]) if argv else 0
    ctypes.CDLL(None).prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if len(argv) > 1 and argv[1] != "-":
        # One core per slot: the fork, the child's copy-on-write faults and the supervisor's
        # reads of its answers all hit the same caches, and nothing migrates between cores.
        os.sched_setaffinity(0, {int(argv[1])})
    # No wakeup preemption (inherited by the zygote and every child): a child streaming its
    # answers keeps the core until it blocks, and the supervisor then reads them in one go,
    # instead of two context switches per answered test. Deadlines only ever run later.
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass
    supervisor = Supervisor(slot, [m for m in argv[2].split(",") if m] if len(argv) > 2 else None)
    # The startup heap never becomes garbage; collecting less often keeps the split cache from
    # being re-walked every few jobs (the trusted side makes little cyclic garbage).
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    out = sys.stdout.buffer
    out.write(json.dumps({"ready": supervisor.isolation}).encode() + b"\n")
    out.flush()
    serve_lines(supervisor, sys.stdin.buffer.fileno(), out)
    supervisor.close()
    return 0


def serve_lines(supervisor: Supervisor, in_fd: int, out) -> None:
    """Job lines in, result lines out, until EOF. Results are flushed when at most one job is
    left queued here: the pool wakes once per few results and refills while the last queued job
    runs, so this core never waits for it."""
    buffer = b""
    queued: collections.deque = collections.deque()
    while True:
        if not queued:
            chunk = os.read(in_fd, 1 << 20)
            if not chunk:
                return
            *lines, buffer = (buffer + chunk).split(b"\n")
            queued.extend(lines)
            continue
        line = queued.popleft()
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError) as e:
            result = jobs.invalid_result(None, f"job line is not valid JSON: {str(e)[:200]}")
        else:
            result = supervisor.run(raw)
        out.write(json.dumps(result).encode() + b"\n")
        if len(queued) <= 1:
            out.flush()


if __name__ == "__main__":
    sys.exit(main())
