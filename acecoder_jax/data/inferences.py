"""Attach sampled completions and their pass rates to AceCode records.

pass_rate = passed tests / len(test_cases) of the record as it stands, i.e. the tests left after
proxy filtering. (The public AceCode-87K release divides by the unfiltered test count in some rows,
so its pass rates there are biased low and can never reach 1.0; ours always can.)

A completion is turned into the program that runs the way the paper's policy prompt expects: the
first fenced python block if any, cut before `if __name__` and before top-level `assert` lines
(which the model may add as its own tests).
"""
from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def completion_program(completion: str) -> str:
    m = _FENCE.search(completion)
    code = m.group(1) if m else completion
    lines = []
    for line in code.split("\n"):
        if line.startswith("if __name__") or line.startswith("assert"):
            break
        lines.append(line)
    return "\n".join(lines).rstrip() + "\n"


def pass_rate(outcomes: list[str], num_tests: int) -> float:
    if num_tests <= 0:
        raise ValueError("pass rate needs at least one test")
    return sum(o == "pass" for o in outcomes) / num_tests
