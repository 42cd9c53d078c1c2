"""Run a jsonl file of jobs on this host and write one result line per job.

    python -m sandbox_workers.run --jobs JOBS.jsonl --results OUT.jsonl [--workers N]
        [--preimport typing,collections,...] [--packages numpy,scipy,...] [--allow-weaker-isolation]

Results come in completion order. A line that is not valid UTF-8 JSON yields an "invalid"
result naming the line. A progress line is shown on a terminal; a summary JSON is printed last.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from sandbox_workers import jobs as jobs_mod
from sandbox_workers.pool import IsolationError, SandboxPool
from sandbox_workers.progress import Summary


def parse_module_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def read_jobs(path: str, bad: list):
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                bad.append(jobs_mod.invalid_result(None, f"{path}:{n}: not valid UTF-8 (byte {e.start})"))
            except ValueError as e:
                bad.append(jobs_mod.invalid_result(None, f"{path}:{n}: not valid JSON: {e}"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox_workers.run", description=__doc__,
                                     epilog=jobs_mod.FORMAT_HELP, formatter_class=jobs_mod.HelpFormatter)
    parser.add_argument("--jobs", required=True, help="input jsonl of jobs")
    parser.add_argument("--results", required=True, help="output jsonl of results")
    parser.add_argument("--workers", type=int, default=None, help="sandbox slots (default: one per core)")
    parser.add_argument("--preimport", default=None, type=parse_module_list,
                        help="comma-separated modules each zygote imports before forking programs "
                             "(default: zygote.DEFAULT_PREIMPORT, what generated programs import most)")
    parser.add_argument("--packages", default=None, type=parse_module_list,
                        help="comma-separated distributions programs may import, everything else is "
                             "absent from their view (default: rootfs.DEFAULT_PACKAGES)")
    parser.add_argument("--allow-weaker-isolation", action="store_true",
                        help="run even where this host cannot give full isolation (no root, no "
                             "cgroups): the summary's isolation says what holds")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress line (it is shown only on a terminal anyway)")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.jobs):
        print(f"error: --jobs {args.jobs!r}: no such file", file=sys.stderr)
        return 2
    bad: list[dict] = []
    summary = Summary()
    try:
        pool = SandboxPool(args.workers, preimport=args.preimport, packages=args.packages,
                           allow_weaker_isolation=args.allow_weaker_isolation or None)
    except IsolationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with pool, open(args.results, "w", encoding="utf-8") as out:
        for result in pool.run(read_jobs(args.jobs, bad), progress=not args.no_progress):
            out.write(json.dumps(result) + "\n")
            summary.add(result)
        for result in bad:
            out.write(json.dumps(result) + "\n")
            summary.add(result)
    print(json.dumps({"summary": summary.as_dict(), "isolation": pool.isolation}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
