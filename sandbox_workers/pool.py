"""The embedded executor: one supervisor process (with its zygote) per core on this host."""
from __future__ import annotations

import collections
import json
import os
import selectors
import subprocess
import sys
from typing import Iterable, Iterator

from sandbox_workers import jobs as jobs_mod
from sandbox_workers.progress import Progress

ALLOW_WEAKER_ENV = "SANDBOX_ALLOW_WEAKER_ISOLATION"
IN_FLIGHT_PER_SLOT = 4  # the supervisor flushes results when one job is left (serve_lines)
MAX_ATTEMPTS = 2
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _import_path() -> str:
    """This package, then the interpreter's site-packages: the supervisor runs with `-S`.

    Skipping `site` keeps .pth hooks (and what they import) out of the zygote, which makes every
    fork and child exit cheaper; programs can still import installed distributions.
    """
    import site
    dirs = [_PACKAGE_PARENT] + [d for d in site.getsitepackages() if os.path.isdir(d)]
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    return os.pathsep.join(dict.fromkeys(dirs))


def _supervisor_env() -> dict:
    """A scrubbed environment: no credentials or tokens ever reach the sandbox side."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": _import_path(),
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "0"}
    for name in ("SANDBOX_PYTHON_CLONE_LOOP", "SANDBOX_FORCE_LEVEL"):  # tests: zygote.py, isolation.py
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


class IsolationError(RuntimeError):
    """This host cannot give the sandbox its full isolation, and weaker was not allowed."""


class _Slot:
    def __init__(self, index: int, cpu: int | None, preimport: tuple[str, ...] | None,
                 packages: tuple[str, ...] | None):
        self.index = index
        self.cpu = cpu
        lists = ["-" if names is None else ",".join(names) for names in (preimport, packages)]
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-m", "sandbox_workers.supervisor", str(index),
             "-" if cpu is None else str(cpu), *lists],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_supervisor_env(), close_fds=True,
            cwd="/")
        self.buffer = b""
        self.in_flight: collections.deque = collections.deque()
        self.ready = None

    def read_lines(self) -> list[bytes] | None:
        """Lines available now; None at EOF (the supervisor died)."""
        chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        if not chunk:
            return None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return lines

    def send(self, line: bytes) -> None:
        self.proc.stdin.write(line)
        self.proc.stdin.flush()

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


class SandboxPool:
    """Persistent slots; `run` streams results for any number of job batches, one at a time.

    `num_workers` defaults to the cores this process may use. With `pin_cpus` (the default),
    slot i runs on the i-th of those cores (round robin), which measured 15-30% faster here than
    letting the scheduler move a slot's processes between cores. `preimport` names the modules
    each zygote imports before it forks programs (default: zygote.DEFAULT_PREIMPORT, what
    generated programs import most); add the ones your programs use, e.g. numpy.
    """

    def __init__(self, num_workers: int | None = None, *, pin_cpus: bool = True,
                 preimport: Iterable[str] | None = None, packages: Iterable[str] | None = None,
                 allow_weaker_isolation: bool | None = None):
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.num_workers = int(num_workers or len(cpus) or os.cpu_count() or 1)
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        self._cpus = cpus if pin_cpus else []
        self._preimport = None if preimport is None else tuple(_check_module_names(preimport))
        self._packages = None if packages is None else tuple(_check_distribution_names(packages))
        self.slots = [self._start(0)]
        self.isolation = self.slots[0].ready
        if allow_weaker_isolation is None:
            allow_weaker_isolation = os.environ.get(ALLOW_WEAKER_ENV, "0") == "1"
        missing = self.isolation.get("missing") or []
        if missing and not allow_weaker_isolation:
            self.close()
            raise IsolationError(
                f"this host cannot fully isolate sandboxed programs (level "
                f"{self.isolation.get('level')!r}; missing: {'; '.join(missing)}). Run as root "
                f"with cgroups for full isolation, or accept it with allow_weaker_isolation=True, "
                f"--allow-weaker-isolation or {ALLOW_WEAKER_ENV}=1.")
        self.slots += [self._start(i) for i in range(1, self.num_workers)]

    def _start(self, index: int) -> _Slot:
        slot = _Slot(index, self._cpus[index % len(self._cpus)] if self._cpus else None, self._preimport,
                     self._packages)
        line = slot.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"sandbox supervisor {index} failed to start (see stderr)")
        slot.ready = json.loads(line)["ready"]
        return slot

    def run(self, jobs: Iterable[dict], *, progress: bool = False) -> Iterator[dict]:
        """Yield exactly one result per job, in completion order."""
        meter = Progress(enabled=progress)
        pending = iter(jobs)
        retry: collections.deque = collections.deque()
        exhausted = False
        selector = selectors.DefaultSelector()
        for slot in self.slots:
            selector.register(slot.proc.stdout, selectors.EVENT_READ, slot)
        try:
            while True:
                # Fill every slot up to its in-flight limit, one write per slot.
                for slot in self.slots:
                    batch = []
                    while len(slot.in_flight) < IN_FLIGHT_PER_SLOT:
                        if retry:
                            entry = retry.popleft()
                        elif not exhausted:
                            try:
                                job = next(pending)
                            except StopIteration:
                                exhausted = True
                                continue
                            try:
                                line = json.dumps(job).encode("utf-8") + b"\n"
                            except (TypeError, ValueError, RecursionError) as e:
                                result = jobs_mod.invalid_result(job, f"job is not JSON-serializable: {e}")
                                meter.update(result)
                                yield result
                                continue
                            entry = [line, jobs_mod.job_id_of(job), 1, job]
                        else:
                            break
                        slot.in_flight.append(entry)
                        batch.append(entry[0])
                    if batch:
                        try:
                            slot.send(b"".join(batch))
                        except (BrokenPipeError, OSError):
                            pass  # noticed as EOF below
                if exhausted and not retry and not any(s.in_flight for s in self.slots):
                    return
                for key, _ in selector.select(timeout=1.0):
                    slot = key.data
                    lines = slot.read_lines()
                    if lines is None:
                        yield from self._replace(slot, selector, retry, meter)
                        continue
                    for line in lines:
                        slot.in_flight.popleft()
                        result = _decode_result(line)
                        meter.update(result)
                        yield result
        finally:
            selector.close()
            meter.close()

    def _replace(self, slot: _Slot, selector, retry, meter) -> Iterator[dict]:
        """A supervisor died: retry its jobs once elsewhere, then report them as crashes."""
        selector.unregister(slot.proc.stdout)
        lost = list(slot.in_flight)
        slot.in_flight.clear()
        slot.stop()
        fresh = self._start(slot.index)
        self.slots[slot.index] = fresh
        selector.register(fresh.proc.stdout, selectors.EVENT_READ, fresh)
        for entry in lost:
            if entry[2] < MAX_ATTEMPTS:
                entry[2] += 1
                retry.append(entry)
            else:
                result = jobs_mod.make_result(entry[1], "crash", ["not_run"] * _test_count(entry[3]),
                                              0.0, error="sandbox supervisor died twice on this job")
                meter.update(result)
                yield result

    def close(self) -> None:
        for slot in self.slots:
            slot.stop()
        self.slots = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_SCAN = json.JSONDecoder().scan_once


def _decode_result(line: bytes) -> dict:
    """A supervisor's result line (our own compact JSON): the C scanner, no whitespace regexes."""
    text = line.decode("utf-8")
    try:
        result, end = _SCAN(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        return json.loads(text)  # not our format: let json name the problem
    return result


def _check_module_names(names: Iterable[str]) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if not all(part.isidentifier() for part in str(name).split(".")):
            raise ValueError(f"preimport: {name!r} is not a module name")
    return names


def _check_distribution_names(names: Iterable[str]) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if not name or not all(c.isalnum() or c in "-_." for c in str(name)):
            raise ValueError(f"packages: {name!r} is not a distribution name")
    return names


def _test_count(job) -> int:
    tests = job.get("tests") if isinstance(job, dict) else None
    return len(tests) if isinstance(tests, list) else 0


def execute_jobs(jobs: Iterable[dict], *, num_workers: int | None = None,
                 progress: bool = False, preimport: Iterable[str] | None = None,
                 allow_weaker_isolation: bool | None = None) -> Iterator[dict]:
    """Run jobs on a fork-server pool on this host; yield one result per job as each completes."""
    pool = SandboxPool(num_workers, preimport=preimport, allow_weaker_isolation=allow_weaker_isolation)
    try:
        yield from pool.run(jobs, progress=progress)
    finally:
        pool.close()
