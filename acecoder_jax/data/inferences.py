"""Attach sampled completions and their pass rates to AceCode records.

pass_rate = passed tests / len(test_cases) of the record as it stands, i.e. the tests left after
proxy filtering. (The public AceCode-87K release divides by the unfiltered test count in some rows,
so its pass rates there are biased low and can never reach 1.0; ours always can.)

A completion is turned into the program that runs by `prompts.extract_code`, the stack's one
extraction rule: the fenced python block if any, cut before `if __name__`, top-level `assert`
lines and test harnesses (which the model may add as its own tests).
"""
from __future__ import annotations

from acecoder_jax.prompts import extract_code


def completion_program(completion: str) -> str:
    """The program to execute for one completion (one extraction rule for the whole stack)."""
    return extract_code(completion).rstrip() + "\n"


def pass_rate(outcomes: list[str], num_tests: int) -> float:
    if num_tests <= 0:
        raise ValueError("pass rate needs at least one test")
    return sum(o == "pass" for o in outcomes) / num_tests
