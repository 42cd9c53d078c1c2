"""Seed loaders: (instruction, program) pairs with the paper's seed filters.

Seed record: {"id", "source", "instruction", "program", "entry_point"?}. Filters, as in the paper:
  * instruction/response data (Evol-Instruct, OSS-Instruct style): the response must hold a fenced
    python block containing `def` or `class`; that block becomes the program;
  * lines that start with `print` are dropped from programs (they only echo demo output);
  * Stack-style raw functions: kept only when longer than `min_program_chars` (100) characters.
A loader yields either a seed or a `SeedReject(reason)` so a stage can count and log drops.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Iterable, Iterator

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_DEF_OR_CLASS = re.compile(r"^\s*(?:async\s+def|def|class)\s+\w+", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class SeedReject:
    id: str
    reason: str


def python_blocks(text: str) -> list[str]:
    """Fenced code blocks tagged python/py (or untagged), in order."""
    return [m.group(2) for m in _FENCE.finditer(text)
            if m.group(1).lower() in ("python", "py", "python3", "")]


def has_def_or_class(code: str) -> bool:
    return bool(_DEF_OR_CLASS.search(code))


def drop_print_lines(code: str) -> str:
    return "\n".join(line for line in code.split("\n") if not line.lstrip().startswith("print")).strip() + "\n"


def program_from_response(response: str) -> str | None:
    """First python block with a `def`/`class`, print lines dropped; None when there is none."""
    for block in python_blocks(response):
        if has_def_or_class(block):
            return drop_print_lines(block)
    return None


def _stable_id(source: str, text: str) -> str:
    return f"{source}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


def instruction_seeds(records: Iterable[dict], source: str, instruction_key: str = "instruction",
                      response_key: str = "response", id_key: str | None = None
                      ) -> Iterator[dict | SeedReject]:
    """Evol-Instruct / OSS-Instruct style records -> seeds (or rejects with a reason)."""
    for n, rec in enumerate(records):
        rid = str(rec.get(id_key)) if id_key and rec.get(id_key) is not None else None
        instruction, response = rec.get(instruction_key), rec.get(response_key)
        if not isinstance(instruction, str) or not instruction.strip():
            yield SeedReject(rid or f"{source}#{n}", f"missing or empty {instruction_key!r}")
            continue
        if not isinstance(response, str):
            yield SeedReject(rid or f"{source}#{n}", f"missing {response_key!r}")
            continue
        program = program_from_response(response)
        if program is None:
            yield SeedReject(rid or f"{source}#{n}", "no python code block with def/class")
            continue
        yield {"id": rid or _stable_id(source, instruction + program), "source": source,
               "instruction": instruction.strip(), "program": program}


def stack_function_seeds(records: Iterable[dict], source: str = "stack_python_fns",
                         content_key: str = "content", min_program_chars: int = 100,
                         id_key: str | None = None) -> Iterator[dict | SeedReject]:
    """Raw python functions (The Stack style) -> seeds whose instruction is the program itself,
    kept only when the program is longer than `min_program_chars` characters."""
    for n, rec in enumerate(records):
        rid = str(rec.get(id_key)) if id_key and rec.get(id_key) is not None else None
        content = rec.get(content_key)
        if not isinstance(content, str):
            yield SeedReject(rid or f"{source}#{n}", f"missing {content_key!r}")
            continue
        program = drop_print_lines(content)
        if len(program.strip()) <= min_program_chars:
            yield SeedReject(rid or f"{source}#{n}", f"program not longer than {min_program_chars} chars")
            continue
        if not has_def_or_class(program):
            yield SeedReject(rid or f"{source}#{n}", "no def/class")
            continue
        yield {"id": rid or _stable_id(source, program), "source": source,
               "instruction": "Rewrite the following function as a self-contained coding problem.",
               "program": program}


SEED_KINDS = ("instruction", "stack", "toy", "seed")


def seeds_from_records(records: Iterable[dict], kind: str, source: str, **kwargs
                       ) -> Iterator[dict | SeedReject]:
    """Dispatch by seed kind: 'instruction', 'stack', or 'seed' (already in seed format)."""
    if kind == "instruction":
        yield from instruction_seeds(records, source, **kwargs)
    elif kind == "stack":
        yield from stack_function_seeds(records, source, **kwargs)
    elif kind == "seed":
        for n, rec in enumerate(records):
            missing = [k for k in ("id", "instruction", "program") if not isinstance(rec.get(k), str)]
            if missing:
                yield SeedReject(str(rec.get("id", f"{source}#{n}")), f"missing/non-string fields {missing}")
            else:
                yield {"source": rec.get("source", source), **rec}
    else:
        raise ValueError(f"unknown seed kind {kind!r}; expected one of {SEED_KINDS}")
