"""A cgroup per sandbox slot: what the program holds in memory (memfd, tmpfs, page cache
included, which RLIMIT_AS does not see) and how many tasks it runs.

The slot's zygote is placed in the group before it clones anything, so every child and
everything a child starts is born inside. Only one child runs per slot at a time, so the limit
set for a job (its `memory_mb` plus the zygote's slack) bounds that job. cgroup v1 (memory and
pids hierarchies) and v2 (one unified group) are both handled; where neither is writable (no
root, a container without delegation) `create` returns None and the reason.
"""
from __future__ import annotations

import os
import re
import time

ROOT = "/sys/fs/cgroup"
ZYGOTE_SLACK_MB = 64   # pages the zygote itself touches after joining the group
MAX_TASKS = 128        # zygote + one child + its threads and processes


def _own_paths() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path."""
    paths = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for c in (controllers.split(",") if controllers else [""]):
                    paths[c] = path
    except OSError:
        pass
    return paths


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _sweep_stale(parent: str) -> None:
    """Remove empty groups left by supervisors that were killed (named sbx-<their pid>)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        m = re.fullmatch(r"sbx-(\d+)", name)
        if m and not _alive(int(m.group(1))):
            try:
                os.rmdir(os.path.join(parent, name))
            except OSError:
                pass


class SlotCgroup:
    def __init__(self, version: int, dirs: dict[str, str]):
        self.version = version
        self.dirs = dirs  # "memory" / "pids" -> directory (the same one on v2)
        self._limit: int | None = None

    @classmethod
    def create(cls, name: str) -> tuple["SlotCgroup | None", str | None]:
        if os.geteuid() != 0:
            return None, "not root"
        own = _own_paths()
        if os.path.isdir(f"{ROOT}/memory") and "memory" in own:
            return cls._create_v1(name, own)
        if os.path.exists(f"{ROOT}/cgroup.controllers"):
            return cls._create_v2(name, own)
        return None, "no cgroup filesystem at /sys/fs/cgroup"

    @classmethod
    def _create_v1(cls, name, own):
        dirs = {}
        try:
            for controller in ("memory", "pids"):
                parent = f"{ROOT}/{controller}{own.get(controller, '/')}".rstrip("/")
                if not os.path.isdir(parent):
                    if controller == "memory":
                        return None, f"no v1 memory cgroup at {parent}"
                    continue
                _sweep_stale(parent)
                path = f"{parent}/{name}"
                os.makedirs(path, exist_ok=True)
                dirs[controller] = path
            group = cls(1, dirs)
            if "pids" in dirs:
                _write(f"{dirs['pids']}/pids.max", str(MAX_TASKS))
            return group, None
        except OSError as e:
            for path in dirs.values():
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            return None, f"cgroup v1: {e}"

    @classmethod
    def _create_v2(cls, name, own):
        candidates = [f"{ROOT}{own.get('', '/')}".rstrip("/"), ROOT]
        reasons = []
        for parent in dict.fromkeys(candidates):
            path = f"{parent}/{name}"
            try:
                _sweep_stale(parent)
                enabled = _read(f"{parent}/cgroup.subtree_control").split()
                if "memory" not in enabled:
                    _write(f"{parent}/cgroup.subtree_control", "+memory +pids")
                os.makedirs(path, exist_ok=True)
                if not os.path.exists(f"{path}/memory.max"):
                    os.rmdir(path)
                    reasons.append(f"{parent}: memory controller not available")
                    continue
                group = cls(2, {"memory": path, "pids": path})
                if os.path.exists(f"{path}/memory.swap.max"):
                    _write(f"{path}/memory.swap.max", "0")
                if os.path.exists(f"{path}/pids.max"):
                    _write(f"{path}/pids.max", str(MAX_TASKS))
                return group, None
            except OSError as e:
                reasons.append(f"{parent}: {e}")
        return None, "cgroup v2: " + "; ".join(reasons)

    def add(self, pid: int) -> None:
        for path in dict.fromkeys(self.dirs.values()):
            _write(f"{path}/cgroup.procs", str(pid))

    def set_memory_mb(self, memory_mb: int) -> None:
        """Bound memory and swap to `memory_mb` (+ the zygote's slack); written only on change."""
        limit = (memory_mb + ZYGOTE_SLACK_MB) << 20
        if limit == self._limit:
            return
        path = self.dirs["memory"]
        if self.version == 2:
            _write(f"{path}/memory.max", str(limit))
        else:
            # memsw (memory + swap) must stay >= the memory limit at every step: lower the
            # memory limit first, raise memsw first.
            memory, memsw = f"{path}/memory.limit_in_bytes", f"{path}/memory.memsw.limit_in_bytes"
            current = int(_read(memory))
            steps = [memory, memsw] if limit <= current else [memsw, memory]
            for step in steps:
                if os.path.exists(step):
                    _write(step, str(limit))
        self._limit = limit

    def oom_kills(self) -> int:
        """How many tasks the kernel's OOM killer ended in this group so far."""
        path = self.dirs["memory"]
        try:
            text = _read(f"{path}/memory.events" if self.version == 2 else f"{path}/memory.oom_control")
        except OSError:
            return 0
        m = re.search(r"^oom_kill (\d+)", text, re.M)
        return int(m.group(1)) if m else 0

    def kill_all(self) -> None:
        for path in dict.fromkeys(self.dirs.values()):
            if self.version == 2 and os.path.exists(f"{path}/cgroup.kill"):
                try:
                    _write(f"{path}/cgroup.kill", "1")
                    continue
                except OSError:
                    pass
            try:
                pids = [int(p) for p in _read(f"{path}/cgroup.procs").split()]
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass

    def remove(self) -> None:
        self.kill_all()
        for path in dict.fromkeys(self.dirs.values()):
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # tasks still leaving the group
