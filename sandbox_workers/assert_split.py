"""Split one `assert` into calls that run in the sandbox and a trusted rest the parent evaluates.

The maximal sub-expressions that mention a name the parent does not trust (anything the program
may define: functions, classes, globals) become call sites. The child evaluates a call site and
returns plain data; the parent evaluates everything else (comparisons, arithmetic, `len`,
`sorted`, `math.isclose`, expected values ...) on the rebuilt values with a small whitelist of
builtins. Comprehension and lambda variables a call site needs are passed to the child as plain
bindings, so `all(f(i) == i * 2 for i in range(3))` still compares in the parent.
"""
from __future__ import annotations

import ast
import builtins
import math
from dataclasses import dataclass
from typing import Callable

CALL_HOOK = "__sbx_call__"
MAX_TEST_CHARS = 1_000_000

_SAFE_BUILTIN_NAMES = (
    "abs all any bin bool bytes chr complex dict divmod enumerate filter float format frozenset "
    "hash hex int isinstance len list map max min oct ord pow range repr reversed round set "
    "slice sorted str sum tuple type zip ArithmeticError AssertionError Exception IndexError "
    "KeyError TypeError ValueError ZeroDivisionError"
).split()
SAFE_BUILTINS = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
SAFE_MODULES = {"math": math}
TRUSTED_NAMES = frozenset(SAFE_BUILTINS) | frozenset(SAFE_MODULES)
# Attribute names that could reach interpreter internals from the parent even on plain values.
_BANNED_ATTRS = frozenset({"format", "format_map", "mro"})

_STRUCTURAL = (ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Tuple, ast.List,
               ast.Set, ast.Dict, ast.Subscript, ast.Slice, ast.Starred, ast.JoinedStr,
               ast.FormattedValue)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


class InvalidTest(ValueError):
    """A test string is not one assert statement the executor can evaluate safely."""


@dataclass(frozen=True)
class CallSite:
    """Source of one expression the child evaluates, and the local names it needs bound."""
    source: str
    bound_names: tuple[str, ...]


@dataclass(frozen=True)
class SplitAssert:
    """A test ready to run: its call sites and the parent's compiled trusted expression.

    `eager` means every call site is evaluated exactly once, unconditionally and in index order
    whenever the trusted expression runs to completion (no short-circuit, conditional, lambda,
    comprehension, dict display or chained comparison around a call site). Such a test's calls
    can all be sent to the child at once; the others are driven one call at a time.
    """
    calls: tuple[CallSite, ...]
    code: object  # code object of the rewritten test expression
    eager: bool = False

    def evaluate(self, call: Callable[[CallSite, dict], object]) -> bool:
        """Evaluate the assert; `call(site, bindings)` returns the child's plain value."""
        def hook(index, bindings):
            return call(self.calls[index], bindings)
        env = {"__builtins__": SAFE_BUILTINS, CALL_HOOK: hook, **SAFE_MODULES}
        return bool(eval(self.code, env))  # noqa: S307 - whitelisted, validated tree


def _bound_by(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
    return names


def _free_names_all(root: ast.AST) -> dict[int, frozenset]:
    """Free names of every node under `root` in one post-order pass (id(node) -> names)."""
    free: dict[int, frozenset] = {}

    def visit(node):
        loads, binds = set(), set()
        for child in ast.iter_child_nodes(node):
            child_loads, child_binds = visit(child)
            loads |= child_loads
            binds |= child_binds
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else binds).add(node.id)
        elif isinstance(node, ast.arg):
            binds.add(node.arg)
        free[id(node)] = frozenset(loads - binds)
        return loads, binds

    visit(root)
    return free


class _Splitter:
    def __init__(self, root: ast.AST):
        self.calls: list[CallSite] = []
        self.free = _free_names_all(root)
        self.eager = True

    def untrusted(self, node, bound) -> bool:
        return bool(self.free[id(node)] - bound - TRUSTED_NAMES)

    def split(self, node: ast.expr, bound: frozenset, conditional: bool = False) -> ast.expr:
        """Rewrite `node`; `conditional` marks places Python may skip or revisit (see eager)."""
        if not self.untrusted(node, bound):
            return node
        if isinstance(node, ast.Call):
            func = node.func
            trusted_func = (isinstance(func, ast.Name) and func.id in TRUSTED_NAMES | bound) or (
                isinstance(func, ast.Attribute) and not self.untrusted(func, bound))
            if not trusted_func:
                return self.placeholder(node, bound, conditional)
            node.args = [self.split(a, bound, conditional) for a in node.args]
            for kw in node.keywords:
                kw.value = self.split(kw.value, bound, conditional)
            return node
        if isinstance(node, ast.Lambda):
            node.body = self.split(node.body, bound | _bound_by(node.args), True)
            return node
        if isinstance(node, _COMPREHENSIONS):
            inner = bound
            for gen in node.generators:
                gen.iter = self.split(gen.iter, inner, True)
                inner = inner | _bound_by(gen.target)
                gen.ifs = [self.split(c, inner, True) for c in gen.ifs]
            if isinstance(node, ast.DictComp):
                node.key = self.split(node.key, inner, True)
                node.value = self.split(node.value, inner, True)
            else:
                node.elt = self.split(node.elt, inner, True)
            return node
        if isinstance(node, _STRUCTURAL):
            for field, value in ast.iter_fields(node):
                if isinstance(value, ast.expr):
                    skippable = conditional or (isinstance(node, ast.IfExp) and field != "test")
                    setattr(node, field, self.split(value, bound, skippable))
                elif isinstance(value, list):
                    setattr(node, field, [
                        self.split(v, bound, conditional or _skippable(node, field, i))
                        if isinstance(v, ast.expr) else v for i, v in enumerate(value)])
            return node
        return self.placeholder(node, bound, conditional)

    def placeholder(self, node: ast.expr, bound: frozenset, conditional: bool) -> ast.expr:
        needs = tuple(sorted(self.free[id(node)] & bound))
        if conditional or needs:
            self.eager = False
        self.calls.append(CallSite(ast.unparse(node), needs))
        return ast.Call(
            func=ast.Name(CALL_HOOK, ast.Load()),
            args=[ast.Constant(len(self.calls) - 1),
                  ast.Dict(keys=[ast.Constant(n) for n in needs],
                           values=[ast.Name(n, ast.Load()) for n in needs])],
            keywords=[])


def _skippable(node: ast.AST, field: str, index: int) -> bool:
    """Whether Python may skip element `index` of a list field, or evaluate it out of source order."""
    if isinstance(node, ast.BoolOp):
        return index > 0  # short-circuit
    if isinstance(node, ast.Compare):
        return field == "comparators" and index > 0  # chained comparison stops early
    return isinstance(node, ast.Dict)  # keys and values interleave at run time


def _check_trusted(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr in _BANNED_ATTRS):
            raise InvalidTest(f"attribute {node.attr!r} is not allowed outside calls into the program")
        if isinstance(node, ast.Name) and node.id.startswith("__") and node.id != CALL_HOOK:
            raise InvalidTest(f"name {node.id!r} is not allowed outside calls into the program")
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom)):
            raise InvalidTest(f"{type(node).__name__} is not allowed in a test")


def split_assert(test: str) -> SplitAssert:
    """Parse one `assert` statement and split it; raise InvalidTest saying what is wrong."""
    if not isinstance(test, str):
        raise InvalidTest(f"test must be a string, got {type(test).__name__}")
    if len(test) > MAX_TEST_CHARS:
        raise InvalidTest(f"test is {len(test)} characters, over the {MAX_TEST_CHARS} limit")
    try:
        module = ast.parse(test, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise InvalidTest(f"cannot parse: {type(e).__name__}: {str(e)[:200]}") from None
    if len(module.body) != 1 or not isinstance(module.body[0], ast.Assert):
        kinds = [type(s).__name__ for s in module.body][:3]
        raise InvalidTest(f"expected exactly one assert statement, got {kinds or 'nothing'}")
    splitter = _Splitter(module.body[0].test)
    try:
        expr = splitter.split(module.body[0].test, frozenset())
        tree = ast.fix_missing_locations(ast.Expression(expr))
        _check_trusted(tree)
        code = compile(tree, "<test>", "eval")
    except InvalidTest:
        raise
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise InvalidTest(f"cannot compile: {type(e).__name__}: {str(e)[:200]}") from None
    return SplitAssert(tuple(splitter.calls), code, splitter.eager)
