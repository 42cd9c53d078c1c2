"""Run job steps on a fresh SandboxPool in a process of its own and report JSON lines.

Used by tests/test_sandbox_attacks.py for attacks that may hang or wreck a slot: the test reads
the events with its own deadlines and, when one is missed, kills this process's whole group (the
supervisors are in it; zygotes and children die with their supervisor through their death
signal), so a hung trusted side costs a bounded wait and leaves nothing behind.

stdin: {"workers": N, "steps": [[job, ...], ...]}. stdout, one JSON object a line:
  {"event": "ready", "supervisors", "zygotes", "scratch"}
  {"event": "step", "index", "results", "wall_s", "supervisors", "alive", "zygotes", "hwm_kb", "scratch"}
  {"event": "done"}
`scratch`: per zygote, what its sandbox root holds (entries, used MiB and inodes of the
filesystem under it), read through /proc/<zygote>/root; null where that cannot be read.
"""
import json
import os
import sys
import time

from sandbox_workers import SandboxPool


def _status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _zygotes(pool):
    out = []
    for slot in pool.slots:
        for child in _children(slot.proc.pid):
            try:
                with open(f"/proc/{child}/cmdline", "rb") as fh:
                    cmd = fh.read()
            except OSError:
                continue
            if b"zygote" in cmd:
                out.append(child)
    return out


def _scratch(pool, zygotes):
    root = (pool.isolation or {}).get("sandbox_root")
    if not root:
        return None
    out = []
    for z in zygotes:
        path = f"/proc/{z}/root{root}"
        try:
            st = os.statvfs(path)
            entries = sorted(os.listdir(path))
        except OSError:
            out.append(None)
            continue
        out.append({"entries": entries[:50], "n_entries": len(entries),
                    "used_mib": (st.f_blocks - st.f_bfree) * st.f_frsize / 2 ** 20,
                    "used_inodes": st.f_files - st.f_ffree})
    return out


def main():
    spec = json.loads(sys.stdin.read())

    def emit(**kw):
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()

    with SandboxPool(spec.get("workers", 1), pin_cpus=False) as pool:
        zygotes = _zygotes(pool)
        emit(event="ready", supervisors=[s.proc.pid for s in pool.slots], zygotes=zygotes,
             scratch=_scratch(pool, zygotes))
        for i, step in enumerate(spec["steps"]):
            start = time.monotonic()
            results = list(pool.run(step))
            wall = time.monotonic() - start
            supervisors = [s.proc.pid for s in pool.slots]
            zygotes = _zygotes(pool)
            emit(event="step", index=i, results=results, wall_s=wall, supervisors=supervisors,
                 alive=all(s.proc.poll() is None for s in pool.slots), zygotes=zygotes,
                 hwm_kb=[_status_kb(p, "VmHWM") for p in supervisors], scratch=_scratch(pool, zygotes))
    emit(event="done")


if __name__ == "__main__":
    main()
