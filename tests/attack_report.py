"""What the attack suites saw: which members succeeded, per class, printed once at session end.

The attack tests assert the safe behaviour; this report says *how* each member fared (its detail
and mechanism), which a pass/fail line cannot. conftest.py prints it; SBX_ATTACK_REPORT=path also
writes it as JSON.
"""
from __future__ import annotations

import json
import os

RESULTS: dict = {}   # class -> member -> {"succeeded", "detail", "how"}
NOTES: dict = {}     # host-side measurements and feature checks, by name


def record(cls, member, succeeded, detail="", how=""):
    RESULTS.setdefault(cls, {})[member] = {"succeeded": bool(succeeded), "detail": str(detail)[:600],
                                           "how": how}
    return succeeded


def note(name, value):
    NOTES[name] = value


def summary_lines() -> list[str]:
    if not RESULTS and not NOTES:
        return []
    lines = ["sandbox attack summary: members that succeeded, per class"]
    total = total_won = 0
    for cls, members in RESULTS.items():
        won = {m: r for m, r in members.items() if r["succeeded"]}
        total, total_won = total + len(members), total_won + len(won)
        lines.append(f"{cls:10s} {len(won):3d} / {len(members):3d}")
        lines += [f"    {m}: {r['how'][:160]} -- {r['detail'][:300]}" for m, r in won.items()]
    lines.append(f"{'total':10s} {total_won:3d} / {total:3d}")
    lines += [f"{name}: {value}" for name, value in NOTES.items()]
    return lines


def write_json(path: str) -> None:
    with open(path, "w") as fh:
        json.dump({"results": RESULTS, "notes": NOTES}, fh, indent=1, default=str)


def report_at_session_end(terminalreporter) -> None:
    lines = summary_lines()
    if lines:
        terminalreporter.section("sandbox attacks")
        for line in lines:
            terminalreporter.write_line(line)
    path = os.environ.get("SBX_ATTACK_REPORT")
    if path and RESULTS:
        write_json(path)
