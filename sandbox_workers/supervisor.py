"""One slot of the executor: a trusted supervisor that runs jobs one at a time.

Run as `python -m sandbox_workers.supervisor SLOT [CPU [MODULES]]`: reads job JSON lines on
stdin, writes one result JSON line per job on stdout (the first line is the slot's isolation
report). Three processes serve the slot:

- the zygote (zygote.py), exec'd before any job is read, clones one confined child per program;
  children are the supervisor's own (CLONE_PARENT), so it reaps them and reads their exit;
- the judge (judge.py), forked from the supervisor, drives each child and evaluates the trusted
  side of every test on the values the program returned; it is the process adversarial values
  can exhaust, so it is bounded and replaceable;
- the supervisor itself handles no program value: it validates jobs, spawns and kills children,
  hands each child's socket to the judge, and watches the judge with a deadline. When the judge
  dies or overruns, the outcomes it already decided are read from shared memory, the test it was
  on is reported, and a fresh judge is forked.
"""
from __future__ import annotations

import collections
import ctypes
import dataclasses
import gc
import json
import math
import mmap
import os
import select
import signal
import socket
import subprocess
import sys
import time

from sandbox_workers import cgroups, frames, isolation, jobs, judge, rootfs, zygote

OUTPUT_HEAD_BYTES = 2048
FILE_MB = 16


class _Child:
    __slots__ = ("pid", "output_fd")

    def __init__(self, pid: int, output_fd: int):
        self.pid, self.output_fd = pid, output_fd


class Supervisor:
    """One slot (module docstring): its uid, cgroup, zygote and judge are set up once; `run`
    validates a job, spawns a child per program through the zygote, hands it to the judge under
    a deadline, and replaces a judge that died or overran.

    Why over 150 lines: spawning, reaping, judge supervision and recovery act on the same child
    and judge processes in a fixed order; one class keeps that order readable top to bottom."""

    def __init__(self, slot: int, preimport: list[str] | None = None, packages: list[str] | None = None):
        self.slot = slot
        isolation.become_subreaper()
        root = os.geteuid() == 0
        uid = isolation.UID_BASE + os.getpid() if root else None
        self.cgroup, cgroup_error = cgroups.SlotCgroup.create(f"sbx-{os.getpid()}") if root else (None, "not root")
        ctl, ctl_zygote = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # The view is planned here (importlib.metadata stays out of the zygote's memory).
        view = rootfs.plan_view(rootfs.DEFAULT_PACKAGES if packages is None else packages)
        config = {"slot": slot, "uid": uid, "preimport": preimport, "view": dataclasses.asdict(view)}
        # A fresh interpreter (exec, not fork): the zygote's memory never held the supervisor's.
        # LD_BIND_NOW: the zygote resolves every dynamic symbol once at start, so children do
        # not each resolve (and copy-on-write the GOT for) functions the zygote never called.
        # MALLOC_ARENA_MAX: a program's threads share two malloc arenas instead of reserving
        # 64 MiB of address space each under RLIMIT_AS.
        self.zygote = subprocess.Popen(
            [sys.executable, "-S", "-m", "sandbox_workers.zygote", str(ctl_zygote.fileno())],
            pass_fds=[ctl_zygote.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            env=dict(os.environ, LD_BIND_NOW="1", MALLOC_ARENA_MAX="2"))
        ctl_zygote.close()
        self.ctl = ctl
        ctl.send(json.dumps(config).encode())
        if self.cgroup is not None:
            self.cgroup.add(self.zygote.pid)  # before it clones anything: children are born inside
        ready = ctl.recv(65536)
        if not ready:
            raise RuntimeError(f"sandbox zygote exited at start (code {self.zygote.wait()})")
        self.isolation = json.loads(ready)
        if self.cgroup is not None:
            self.isolation["memory"] = (f"memory cgroup v{self.cgroup.version}: memory_mb + "
                                        f"{cgroups.ZYGOTE_SLACK_MB} MiB, memfd/tmpfs/page cache included")
        else:
            self.isolation["memory"] = f"address space limit + tmpfs cap (no memory cgroup: {cgroup_error})"
        self.isolation["missing"] = isolation.missing_guarantees(self.isolation)
        self.sweep = not self.isolation.get("processes", "").startswith("own PID namespace")
        self.oom_kills = self.cgroup.oom_kills() if self.cgroup is not None else 0
        self.progress = mmap.mmap(-1, judge.PROGRESS.size + jobs.MAX_TESTS)
        self.seq = 0
        self.judge_restarts = 0
        self._start_judge()

    # -- the judge -------------------------------------------------------------------------
    def _start_judge(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.judge_pid = judge.start(theirs, self.progress, keep_fds=(theirs.fileno(),))
        theirs.close()
        self.judge_sock = ours

    def _stop_judge(self) -> int:
        """Kill the judge; its wait status."""
        self.judge_sock.close()
        try:
            os.kill(self.judge_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return _reap(self.judge_pid)

    def _await_judge(self, deadline: float):
        """The judge's next message, or None when it died or missed the deadline."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                ready, _, _ = select.select([self.judge_sock], [], [], left)
            except InterruptedError:
                continue
            if not ready:
                return None
            try:
                return frames.recv_message(self.judge_sock)
            except (frames.FrameError, OSError, EOFError, ValueError):
                return None

    def close(self) -> None:
        """Stop the judge and the zygote and wait for them, then remove the slot's cgroup."""
        self._stop_judge()
        self.ctl.close()
        try:
            self.zygote.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.zygote.kill()
            self.zygote.wait()
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.isolation.get("sandbox_dir"):  # levels without a private tmpfs
            try:
                isolation.remove_directory(self.isolation["sandbox_dir"])
            except OSError:
                pass

    # -- children --------------------------------------------------------------------------
    def _spawn(self, memory_mb: int, cpu_s: int) -> tuple[_Child, int]:
        """A new confined child: (child, its socket fd). The slot's memory limit is set once the
        zygote has unmounted the previous program's tmpfs (its pages are charged until then)
        and before the child runs any program code (it waits for the judge's first request)."""
        self.ctl.send(zygote.REQUEST.pack(memory_mb, cpu_s, FILE_MB, self.isolation["threads"],
                                          memory_mb))
        data, fds, _, _ = socket.recv_fds(self.ctl, 4096, 2)
        if len(data) != zygote.REPLY.size or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            if not data:
                raise RuntimeError(f"sandbox zygote exited (code {self.zygote.wait()})")
            raise RuntimeError(f"zygote could not spawn a child: {data[zygote.REPLY.size + 1:].decode(errors='replace')}")
        (pid,) = zygote.REPLY.unpack(data)
        child = _Child(pid, fds[1])
        if self.cgroup is not None:
            try:
                self.cgroup.set_memory_mb(memory_mb)
            except OSError as e:
                self._end(child)
                os.close(fds[0])
                os.close(fds[1])
                raise RuntimeError(f"could not set the slot's memory limit: {e}") from None
        return child, fds[0]

    def _end(self, child: _Child) -> int:
        """SIGKILL the child's process group and reap it; its wait status. Where programs have
        no PID namespace of their own, also end whatever they left running (the supervisor is
        the subreaper: orphans come back to it)."""
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        status = _reap(child.pid)
        if self.sweep:
            self._sweep()
        return status

    def _sweep(self) -> None:
        keep = {self.zygote.pid, self.judge_pid}
        for _ in range(100):
            try:
                with open(f"/proc/self/task/{os.getpid()}/children") as f:
                    strays = [int(p) for p in f.read().split() if int(p) not in keep]
            except OSError:
                return
            if not strays:
                return
            for pid in strays:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
                _reap(pid)

    def _exit_kind(self, wait_status: int) -> str:
        """What a child's exit says: "timeout" (CPU limit), "memory" (the OOM killer), "crash",
        or "killed" (by us)."""
        kind = _exit_kind(wait_status)
        if kind == "killed" and self.cgroup is not None:
            kills = self.cgroup.oom_kills()
            if kills != self.oom_kills:
                self.oom_kills = kills
                return "memory"
        return kind

    # -- one job ---------------------------------------------------------------------------
    def run(self, raw_job) -> dict:
        start = time.monotonic()
        try:
            job = jobs.validate(raw_job)
        except jobs.InvalidJob as e:
            return jobs.invalid_result(raw_job, str(e))
        n = len(job["tests"])
        per_child = 1 if job["fresh_state"] else n
        cpu_s = int(math.ceil(job["load_timeout_s"] + job["timeout_s"] * per_child)) + 1
        self.seq += 1
        child, sock_fd = self._spawn(job["memory_mb"], cpu_s)
        earlier_output = None  # of a child replaced mid-job
        try:
            frames.send_message(self.judge_sock, {"job": job, "seq": self.seq}, (sock_fd,))
        finally:
            os.close(sock_fd)
        backstop = lambda: time.monotonic() + 2 * cpu_s + job["timeout_s"] * 2 + 5  # noqa: E731
        deadline = backstop()
        while True:
            received = self._await_judge(deadline)
            if received is None:
                outcome = self._judge_lost(job, time.monotonic() >= deadline)
                break
            message, fds = received
            for fd in fds:
                os.close(fd)
            if "done" in message:
                outcome = message["done"]
                break
            # A fresh child for the next test (fresh_state, values mode after a failure). Its
            # output is read now and its capture file closed: the file keeps its tmpfs alive
            # (and charged to the slot's memory) until then.
            previous = self._exit_kind(self._end(child))
            earlier_output = _output_head(child.output_fd) or earlier_output
            os.close(child.output_fd)
            try:
                child, sock_fd = self._spawn(job["memory_mb"], cpu_s)
            except RuntimeError as e:
                frames.send_message(self.judge_sock, {"child": False, "previous": previous, "error": str(e)})
                deadline = backstop()
                continue
            try:
                frames.send_message(self.judge_sock, {"child": True, "previous": previous}, (sock_fd,))
            finally:
                os.close(sock_fd)
            deadline = backstop()
        wait_status = self._end(child)
        status, error = outcome["status"], outcome.get("error")
        if outcome.get("child") == "died" and status in ("crash", "ok"):
            kind = self._exit_kind(wait_status)
            if kind in ("memory", "timeout"):
                status = kind
            error = f"{error}: {_exit_text(wait_status)}" if error else _exit_text(wait_status)
        extra = {k: outcome[k] for k in ("messages", "values") if k in outcome}
        if status != "ok":
            extra["error"] = error
            head = (_output_head(child.output_fd) or earlier_output) if status != "invalid" else None
            if head:
                extra["output"] = head
        elif error and status == "ok" and job["fresh_state"]:
            extra["error"] = error
        os.close(child.output_fd)
        return jobs.make_result(job["id"], status, outcome["outcomes"], time.monotonic() - start, **extra)

    def _judge_lost(self, job: dict, overran: bool) -> dict:
        """The judge died (or overran the backstop) mid-job: keep what it decided, blame the test
        it was evaluating, and fork a fresh judge."""
        wait_status = self._stop_judge()
        self.judge_restarts += 1
        self._start_judge()
        seq, current, outcomes = self.judge_progress()
        n = len(job["tests"])
        if seq != self.seq or len(outcomes) != n:
            outcomes, current = ["not_run"] * n, 0
        cpu = os.WIFSIGNALED(wait_status) and os.WTERMSIG(wait_status) == signal.SIGXCPU
        outcomes = list(outcomes)
        if current < n:
            outcomes[current] = "timeout" if (cpu or overran) else "error"
            for i in range(current + 1, n):
                outcomes[i] = "not_run"
        status = "timeout" if (cpu or overran) else "crash"
        error = (f"tests[{current}]: the trusted evaluation of the program's values "
                 + ("ran out of time" if (cpu or overran) else f"died ({_exit_text(wait_status)})"))
        return {"status": status, "outcomes": outcomes, "error": error, "child": "alive"}

    def judge_progress(self):
        return judge.Progress(self.progress).read()


def _reap(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0


def _exit_kind(wait_status: int) -> str:
    """What a child's exit says: "timeout" (CPU limit), "memory", "crash" or "killed" (by us)."""
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        if sig == signal.SIGXCPU:
            return "timeout"
        if sig == signal.SIGKILL:
            return "killed"
    return "crash"


def _exit_text(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"child exited (signal {os.WTERMSIG(wait_status)})"
    return f"child exited (code {os.waitstatus_to_exitcode(wait_status)})"


def _output_head(fd: int) -> str | None:
    """The start of what the child wrote to stdout/stderr (its capture file), for error reports."""
    try:
        head = os.pread(fd, OUTPUT_HEAD_BYTES, 0)
    except OSError:
        return None
    return head.decode("utf-8", "replace") if head else None


def main(argv=None) -> int:
    """argv: SLOT [CPU|- [MODULES|- [PACKAGES]]]; with CPU, the slot (supervisor, zygote,
    children) stays on that core; MODULES (comma-separated) replaces the zygote's default
    pre-imports; PACKAGES (comma-separated distributions) replaces rootfs.DEFAULT_PACKAGES."""
    argv = sys.argv[1:] if argv is None else argv
    slot = int(argv[0]) if argv else 0
    ctypes.CDLL(None).prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if len(argv) > 1 and argv[1] != "-":
        # One core per slot: the fork, the child's copy-on-write faults and the judge's reads of
        # its answers all hit the same caches, and nothing migrates between cores.
        os.sched_setaffinity(0, {int(argv[1])})
    # No wakeup preemption (inherited by the zygote, the judge and every child): a process
    # streaming answers keeps the core until it blocks, instead of two context switches per
    # answered test. Deadlines only ever run later.
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass
    lists = [None if len(argv) <= i or argv[i] == "-" else [m for m in argv[i].split(",") if m]
             for i in (2, 3)]
    supervisor = Supervisor(slot, *lists)
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
