"""Deliberately wrong variants of a program: single-point AST mutations.

Used to measure how well synthesized tests discriminate (a test suite "catches" a mutant when the
mutant fails at least one test), and, clearly labelled, as stand-in policy samples with spread-out
pass rates when no sampler output is at hand.
"""
from __future__ import annotations

import ast
import random

_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mult, ast.Div: ast.Mult,
             ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult}


def _sites(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    sites = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sites += [(node, f"cmp{i}") for i, op in enumerate(node.ops) if type(op) in _CMP_SWAP]
        elif isinstance(node, ast.BinOp) and type(node.op) in _BIN_SWAP:
            sites.append((node, "bin"))
        elif isinstance(node, ast.AugAssign) and type(node.op) in _BIN_SWAP:
            sites.append((node, "aug"))
        elif isinstance(node, ast.BoolOp):
            sites.append((node, "bool"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((node, "not"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            sites.append((node, "int"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            sites.append((node, "boolconst"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value and len(node.value) < 40:
            sites.append((node, "str"))
    return sites


def _apply(node: ast.AST, kind: str) -> None:
    if kind.startswith("cmp"):
        i = int(kind[3:])
        node.ops[i] = _CMP_SWAP[type(node.ops[i])]()
    elif kind in ("bin", "aug"):
        node.op = _BIN_SWAP[type(node.op)]()
    elif kind == "bool":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "not":
        node.op = ast.UAdd()  # `not x` -> `+x`: truthiness flipped back
    elif kind == "int":
        node.value = node.value + 1
    elif kind == "boolconst":
        node.value = not node.value
    elif kind == "str":
        node.value = node.value + "x"


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body[0] = ast.Pass() if len(node.body) == 1 else node.body[0]
                if len(node.body) > 1:
                    node.body.pop(0)


def mutants(program: str, limit: int | None = None, seed: int = 0) -> list[str]:
    """Distinct single-mutation variants of `program` (docstrings never mutated), shuffled by seed."""
    tree = ast.parse(program)
    _strip_docstrings(tree)
    base = ast.unparse(tree)
    n_sites = len(_sites(tree))
    out, seen = [], {base}
    for i in range(n_sites):
        t = ast.parse(base)
        node, kind = _sites(t)[i]
        _apply(node, kind)
        try:
            src = ast.unparse(ast.fix_missing_locations(t))
            compile(src, "<mutant>", "exec")
        except (SyntaxError, ValueError):
            continue
        if src not in seen:
            seen.add(src)
            out.append(src)
    random.Random(seed).shuffle(out)
    return out[:limit] if limit is not None else out


STAND_IN_MODEL = "mutant-standin"


def stand_in_completions(records, per_question: int = 8, seed: int = 0) -> list[dict]:
    """LABELLED STAND-INS for policy samples: per question, the seed program itself plus mutants of
    it, wrapped in a markdown block the way a policy answers. model_name is "mutant-standin" so they
    can never be mistaken for real samples. Records without `seed_program` are skipped."""
    out = []
    for rec in records:
        program = rec.get("seed_program")
        if not program:
            continue
        variants = [program] + mutants(program, limit=max(0, per_question - 1), seed=seed)
        for i, code in enumerate(variants):
            out.append({"id": str(rec["id"]), "model_name": STAND_IN_MODEL, "completion_id": i,
                        "completion": f"```python\n{code.rstrip()}\n```"})
    return out
