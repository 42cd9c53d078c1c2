"""Turn a HumanEval `check(candidate)` body into independent assert strings.

The check function is trusted benchmark code, so it is run here with each `assert` replaced by
a recorder: the assert's source is emitted with its local variables substituted by their values
(as literals) and `candidate` renamed to the entry point. Locals computed from the program
(`solution = candidate(...)`, `encoded = encode_cyclic(s)`) are never evaluated here; their
source is inlined into the asserts that use them, so loops with random inputs unroll into
concrete, self-contained tests.
"""
from __future__ import annotations

import ast
import builtins
import math

_MAX_ASSERTS = 10_000


class _Deferred:
    """A local whose value comes from the program: kept as source, inlined on use."""

    def __init__(self, source: str):
        self.source = source


def _literal(value) -> ast.expr:
    if isinstance(value, _Deferred):
        return ast.parse(value.source, mode="eval").body
    if isinstance(value, float) and not math.isfinite(value):
        return ast.parse(f"float({str(value)!r})", mode="eval").body
    text = repr(value)
    try:
        if ast.literal_eval(text) != value:
            raise ValueError
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"cannot inline a local of type {type(value).__name__}: {text[:80]}") from None
    return ast.parse(text, mode="eval").body


class _Substitute(ast.NodeTransformer):
    def __init__(self, values: dict, entry_point: str):
        self.values, self.entry_point = values, entry_point

    def visit_Name(self, node):
        if node.id == "candidate":
            return ast.copy_location(ast.Name(self.entry_point, ast.Load()), node)
        if isinstance(node.ctx, ast.Load) and node.id in self.values:
            value = self.values[node.id]
            if type(value).__name__ == "module":
                return node
            return ast.copy_location(_literal(value), node)
        return node


def _names(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class _Instrument(ast.NodeTransformer):
    """assert E -> __emit__(src(E), locals());  x = E(program) -> x = __defer__(src(E), locals())."""

    def __init__(self, known: set[str]):
        self.known = known  # names that exist in the check's own world

    def _from_program(self, expr) -> bool:
        return "candidate" in _names(expr) or bool(_names(expr) - self.known)

    def visit_Assert(self, node):
        call = ast.parse(f"__emit__({ast.unparse(node.test)!r}, locals())").body[0]
        return ast.copy_location(call, node)

    def visit_Assign(self, node):
        if self._from_program(node.value) and all(isinstance(t, ast.Name) for t in node.targets):
            src = ast.unparse(node.value)
            value = ast.parse(f"__defer__({src!r}, locals())", mode="eval").body
            return ast.copy_location(ast.Assign(node.targets, value), node)
        return node


def split_check(test_code: str, entry_point: str) -> list[str]:
    """Independent `assert` strings equivalent to running `check(entry_point)` from `test_code`."""
    if not isinstance(test_code, str) or not isinstance(entry_point, str) or not entry_point.isidentifier():
        raise ValueError("split_check needs test source text and an identifier entry point")
    module = ast.parse(test_code)
    checks = [s for s in module.body if isinstance(s, ast.FunctionDef) and s.name == "check"]
    if len(checks) != 1:
        raise ValueError(f"test code must define exactly one check(candidate), found {len(checks)}")
    check = checks[0]
    known = set(dir(builtins)) | {"candidate"}
    for node in ast.walk(module):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            known.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            known.add(node.id)
        elif isinstance(node, ast.arg):
            known.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            known.update((a.asname or a.name).split(".")[0] for a in node.names)
    _Instrument(known).visit(check)
    ast.fix_missing_locations(module)
    emitted: list[str] = []

    def emit(source: str, local_values: dict) -> None:
        if len(emitted) >= _MAX_ASSERTS:
            raise ValueError(f"check() emits more than {_MAX_ASSERTS} asserts")
        tree = ast.parse(source, mode="eval")
        tree = _Substitute(dict(local_values), entry_point).visit(tree)
        emitted.append("assert " + ast.unparse(ast.fix_missing_locations(tree)))

    def defer(source: str, local_values: dict) -> _Deferred:
        tree = _Substitute(dict(local_values), entry_point).visit(ast.parse(source, mode="eval"))
        return _Deferred(ast.unparse(ast.fix_missing_locations(tree)))

    def refuse(*_a, **_k):
        raise RuntimeError("split_check never calls the candidate")

    env = {"__emit__": emit, "__defer__": defer, "__name__": "__check__"}
    exec(compile(module, "<check>", "exec"), env)  # noqa: S102 - trusted benchmark code
    env["check"](refuse)
    return emitted
