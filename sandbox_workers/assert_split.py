"""Split one `assert` into the parts the sandbox child evaluates and a trusted rest.

Names in a test mean what they mean in plain Python when the program and the test run in one
module: a name the program defines is the program's (even `max` or `math`); other names are
builtins, or the stdlib modules a test file imports. The child reports which of the test's
names the loaded program defines (and which of those are modules, or functions and classes of
modules, e.g. `np` or `isclose`); `split_assert(test, resolve)` then rewrites the test:

- a maximal sub-expression that reads program names and no test-local names (comprehension or
  lambda variables, walrus targets) is a *closed call site*: its source runs in the child, whose
  answer comes back as a value (values.py) or as a handle to a program object (remote.py);
- a call into the program whose arguments depend on test-local names is an *apply site*: the
  callee runs in the child, the arguments are evaluated here and sent as values, so the child
  never sees `v` in `all(parse(str(v)) == v for v in xs)`, only `str(v)`;
- everything else (comparisons, arithmetic, `len`, `sorted`, `math.isclose`, `np.allclose`,
  expected values) is evaluated by the judge with trusted builtins and trusted modules, never
  through the program's (possibly patched) modules.
"""
from __future__ import annotations

import ast
import builtins
import copy
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import Callable

from sandbox_workers import values

CALL_HOOK = "__sbx_call__"
APPLY_HOOK = "__sbx_apply__"
MODULE_PREFIX = "__sbx_m_"
MAX_TEST_CHARS = 1_000_000

SAFE_BUILTINS = {name: getattr(builtins, name) for name in values.SAFE_BUILTIN_NAMES}
SAFE_BUILTINS.update(NotImplemented=NotImplemented, Ellipsis=Ellipsis)

# Modules the judge evaluates itself when a test names them (through the program's own alias,
# e.g. `np`, or through `__import__('math')`), and the names a test may use without the program
# defining them (a test file's imports).
# Only modules without state a program could change: decimal (its context) is left to the child.
TRUSTED_MODULES = frozenset(
    "math cmath operator itertools functools collections collections.abc heapq bisect string re "
    "fractions statistics datetime copy json numbers unicodedata textwrap numpy numpy.linalg".split())
AUTO_IMPORT = frozenset("math copy re string itertools collections functools heapq bisect "
                        "operator statistics fractions decimal json".split())
# Trusted module attributes a test may not use (file and process access).
MODULE_DENY = frozenset("load save savez savez_compressed savetxt loadtxt genfromtxt fromfile "
                         "tofile memmap fromregex DataSource ctypeslib lib f2py show_config info "
                         "source who testing runstring".split())
# Besides those, what a program may not make one of its names stand for ("a:" reports):
# callables that read attributes or call methods by a name the program could choose.
_PROGRAM_NAMED_DENY = MODULE_DENY | {"attrgetter", "methodcaller", "set_printoptions", "seterr",
                                     "seterrcall", "setbufsize", "set_string_function"}
GETATTR_HOOK = "__sbx_getattr__"  # every attribute read of the trusted rest goes through it

_STRUCTURAL = (ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Tuple, ast.List,
               ast.Set, ast.Dict, ast.Subscript, ast.Slice, ast.Starred, ast.JoinedStr,
               ast.FormattedValue)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
# Nodes the judge evaluates itself, splitting their parts (never shipped to the child whole).
_NON_LEAF = _STRUCTURAL + _COMPREHENSIONS + (ast.Lambda, ast.NamedExpr)


def _builtin_attribute_names() -> frozenset:
    """Methods and attributes of the value types results rebuild as: `f(x).startswith('a')`
    runs str.startswith here, on the rebuilt value, so a program that patched the type in its
    own process changes nothing (on a program object the name is still looked up in the child)."""
    import collections
    import datetime
    import fractions
    names = set()
    for t in (str, bytes, bytearray, list, tuple, dict, set, frozenset, int, float, complex, bool,
              range, slice, collections.Counter, collections.OrderedDict, collections.deque,
              collections.defaultdict, fractions.Fraction, datetime.date, datetime.datetime,
              datetime.time, datetime.timedelta):
        names.update(n for n in dir(t) if not n.startswith("_"))
    names.update("all any argmax argmin argsort astype copy cumsum dtype flatten item max mean min "
                 "ndim nonzero prod ravel reshape round shape size squeeze std sum tolist "
                 "transpose var T".split())  # numpy arrays
    # Methods that change the object must change the program's object, in the child.
    mutating = set("append extend insert remove pop clear sort reverse popitem setdefault update add "
                   "discard difference_update intersection_update symmetric_difference_update "
                   "appendleft extendleft popleft rotate subtract".split())
    return frozenset(names - mutating)


BUILTIN_ATTRIBUTES = _builtin_attribute_names()
# Names tests use for builtins and modules; a program may rebind them (_check_shadowing).
SHADOWABLE = frozenset(values.SAFE_BUILTIN_NAMES) | TRUSTED_MODULES | AUTO_IMPORT | {"np"}
# Dunders a test may not call on a value the program made: they would hand the test value to
# the program's own operator (`f(1).__eq__(5)`), exactly what `==` is kept from doing.
_GUARDED_DUNDERS = frozenset(f"__{n}__" for n in (
    "eq ne lt le gt ge contains add sub mul matmul truediv floordiv mod divmod pow lshift rshift "
    "and xor or radd rsub rmul rmatmul rtruediv rfloordiv rmod rdivmod rpow rlshift rrshift rand "
    "rxor ror").split())


class InvalidTest(ValueError):
    """A test string is not one assert statement the executor can evaluate safely."""


class _Program:
    """Marker: the name is the program's."""

    def __repr__(self):
        return "PROGRAM"


PROGRAM = _Program()
TRUSTED_IMPORT = object()  # `__import__` is the builtin: allowlisted modules resolve here


@dataclass(frozen=True)
class CallSite:
    """Source the child evaluates: a whole expression ("closed") or a callee ("apply")."""
    source: str
    kind: str = "closed"


@dataclass(frozen=True)
class ParsedTest:
    source: str
    expr: ast.expr            # the assert's test expression (never mutated)
    free_names: frozenset     # names the test reads and does not bind itself
    imports: frozenset        # modules named by __import__('...') in the test


@dataclass(frozen=True)
class SplitAssert:
    """A test ready to run: call sites, the judge's compiled rest and the trusted names it reads.

    `eager`: every call site is closed and runs exactly once, unconditionally, in index order
    whenever the trusted expression runs to completion; the child may then evaluate them all
    in one go (stopping early where a value is a program object, see judge.py).
    """
    calls: tuple[CallSite, ...]
    code: object
    names: dict
    eager: bool = False


def parse_test(test: str) -> ParsedTest:
    """Parse and check one `assert` statement; raise InvalidTest saying what is wrong."""
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
    expr = module.body[0].test
    loads, binds, imports = set(), set(), set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            if node.id.startswith("__sbx"):
                raise InvalidTest(f"name {node.id!r} is reserved by the sandbox")
            (loads if isinstance(node.ctx, ast.Load) else binds).add(node.id)
        elif isinstance(node, ast.arg):
            binds.add(node.arg)
        elif isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom)):
            raise InvalidTest(f"{type(node).__name__} is not allowed in a test")
        elif _import_call(node):
            imports.add(node.args[0].value)
    return ParsedTest(test, expr, frozenset(loads - binds), frozenset(imports))


def _import_call(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "__import__" and len(node.args) == 1 and not node.keywords
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))


# ---------------------------------------------------------------------------------------------
# Name resolution
# ---------------------------------------------------------------------------------------------


class TrustedImportFailed(InvalidTest):
    """An allowlisted, installed module failed to import in the judge (e.g. out of memory): the
    test cannot be scored now; the name must not fall back to the program's."""


def trusted_module(name: str):
    """The judge's own import of an allowlisted module, or None when it is not installed."""
    if name not in TRUSTED_MODULES:
        return None
    module = sys.modules.get(name)
    if module is not None:
        return module
    if importlib.util.find_spec(name.partition(".")[0]) is None:
        return None
    try:
        return importlib.import_module(name)
    except BaseException as e:  # noqa: BLE001 - ImportError, MemoryError ...
        raise TrustedImportFailed(f"the judge could not import {name}: {type(e).__name__}") from None


def resolver(report: dict | None) -> Callable[[str], object]:
    """`resolve(name)` from the child's report of what the program defines.

    report[name] is "p" (a program value), "m:MODULE" (a module object) or "a:MODULE:QUALNAME"
    (a function or class the program imported from a module); names absent from the report
    are not defined by the program. With report None (no program known) every name that is not
    a trusted builtin or an auto-imported module is the program's.
    """
    report = report or {}

    def resolve(name: str):
        kind = report.get(name)
        if kind is None:
            if name == "__import__":
                return TRUSTED_IMPORT
            if name in SAFE_BUILTINS:
                return SAFE_BUILTINS[name]
            if name in AUTO_IMPORT:
                return trusted_module(name) or PROGRAM
            return PROGRAM
        if kind.startswith("m:"):
            return trusted_module(kind[2:]) or PROGRAM
        if kind.startswith("a:"):
            module_name, _, qualname = kind[2:].partition(":")
            if qualname != name:  # an alias (`from math import floor as abs`): the program's
                return PROGRAM
            return trusted_attribute(module_name, qualname)
        return PROGRAM
    return resolve


def trusted_attribute(module_name: str, name: str):
    """The judge's own `module.name` for a function or class a program imported (e.g.
    `from math import isclose`), or PROGRAM. The child names it, so a program can name
    anything: only a public, top-level function or class that the allowlisted module itself
    defines (not a module, not a re-export from elsewhere, not file or process access) counts."""
    module = trusted_module(module_name)
    if module is None or not name.isidentifier() or name.startswith("_") or name in _PROGRAM_NAMED_DENY:
        return PROGRAM
    obj = getattr(module, name, None)
    if obj is None or isinstance(obj, type(module)) or not callable(obj):
        return PROGRAM
    home = getattr(obj, "__module__", None)
    if not isinstance(home, str) or not (home == module_name or home.startswith(module_name + ".")
                                         or (home == "builtins" and _builtin_of(module, obj))):
        return PROGRAM
    return obj


def _builtin_of(module, obj) -> bool:
    """C functions of an extension module report __module__ 'builtins' when their module is one
    (math.isclose): accept them only if they are not the interpreter's own builtins."""
    return getattr(builtins, getattr(obj, "__name__", ""), None) is not obj


def signature(parsed: ParsedTest, report: dict | None) -> tuple:
    """What a split depends on: the report's entries for the test's names (a cache key)."""
    report = report or {}
    names = parsed.free_names | ({"__import__"} if parsed.imports else set())
    return tuple(sorted((n, report[n]) for n in names if n in report))


# ---------------------------------------------------------------------------------------------
# The split
# ---------------------------------------------------------------------------------------------


def _free_names_all(root: ast.AST) -> dict[int, frozenset]:
    """Names each node reads that it does not bind itself, for every node (one pass)."""
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
        walrus = binds if not isinstance(node, ast.NamedExpr) else binds - {node.target.id}
        free[id(node)] = frozenset(loads - walrus)
        return loads, binds

    visit(root)
    return free


def _walrus_nodes(root: ast.AST) -> set:
    """Ids of nodes containing a walrus (never shipped to the child whole: the target is the
    test's name, bound on the trusted side)."""
    walrus = set()

    def visit(node) -> bool:
        w = isinstance(node, ast.NamedExpr)
        for child in ast.iter_child_nodes(node):
            w = visit(child) or w
        if w:
            walrus.add(id(node))
        return w

    visit(root)
    return walrus


class _Splitter:
    def __init__(self, root: ast.AST, resolve, walrus_targets: set, names: dict):
        self.free = _free_names_all(root)
        self.walrus = _walrus_nodes(root)
        self.resolve = resolve
        self.walrus_targets = frozenset(walrus_targets)
        self.calls: list[CallSite] = []
        self.names = names  # trusted names bound before the split (__import__ rewrites)
        self.eager = True
        self._resolved: dict[str, object] = {}

    def _lookup(self, name: str):
        if name not in self._resolved:
            self._resolved[name] = self.names[name] if name in self.names else self.resolve(name)
        return self._resolved[name]

    def program_names(self, node, bound) -> set:
        return {n for n in self.free[id(node)] - bound if self._lookup(n) is PROGRAM}

    def site(self, node, conditional: bool, kind: str = "closed") -> int:
        if conditional or kind != "closed":
            self.eager = False
        self.calls.append(CallSite(ast.unparse(node), kind))
        return len(self.calls) - 1

    def closed(self, node, conditional):
        k = self.site(node, conditional)
        return ast.Call(func=ast.Name(CALL_HOOK, ast.Load()), args=[ast.Constant(k)], keywords=[])

    def split(self, node: ast.expr, bound: frozenset, conditional: bool = False) -> ast.expr:
        """Rewrite `node`; `conditional` marks places Python may skip or revisit."""
        bound = bound | self.walrus_targets
        program = self.program_names(node, bound)
        has_bound = bool(self.free[id(node)] & bound)
        closable = not has_bound and id(node) not in self.walrus
        leaf = not isinstance(node, _NON_LEAF)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                node.func.attr in _GUARDED_DUNDERS):
            raise InvalidTest(f"calling {node.func.attr} on a value directly cannot be scored "
                              f"safely (it hands the test value to the program's own operator)")
        if not program:
            return node
        if closable and leaf and self._spine_closable(node):
            if not isinstance(node, ast.Call) or self.program_names(node.func, bound):
                self._check_shadowing(node)
                return self.closed(node, conditional)
        if isinstance(node, ast.Call):
            return self._call(node, bound, conditional)
        if isinstance(node, ast.Attribute):
            node.value = self.split(node.value, bound, conditional)
            return node
        if isinstance(node, ast.NamedExpr):
            node.value = self.split(node.value, bound, conditional)
            return node
        if isinstance(node, ast.Lambda):  # defaults are evaluated when the lambda is made
            node.args.defaults = [self.split(d, bound, conditional) for d in node.args.defaults]
            node.args.kw_defaults = [d if d is None else self.split(d, bound, conditional)
                                     for d in node.args.kw_defaults]
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
        if isinstance(node, ast.Name):  # a program name (closable is always true for a Name)
            return self.closed(node, conditional)
        raise InvalidTest(f"cannot evaluate {type(node).__name__} {ast.unparse(node)[:80]!r}: it "
                          f"mixes test-local names with the program's")

    def _spine_closable(self, node) -> bool:
        """Whether `node` may run in the child whole: its receiver chain (`x` in `x.m(a)`,
        `x(a)`, `x[i]`) holds no comparison or arithmetic with test values, and reads no
        non-mutating builtin method off a result (`f(1).startswith('a')` is split, so
        str.startswith runs here on the rebuilt value)."""
        while True:
            if isinstance(node, ast.Call):
                node = node.func
            elif isinstance(node, ast.Attribute):
                if node.attr in BUILTIN_ATTRIBUTES:
                    return False
                node = node.value
            elif isinstance(node, ast.Subscript):
                node = node.value
            elif isinstance(node, ast.Name):  # the chain must start in the program: `type(f(1)).x`
                return self._lookup(node.id) is PROGRAM  # is the judge's type() of a value
            else:
                return not isinstance(node, _NON_LEAF) and not isinstance(node, ast.Constant)

    def _check_shadowing(self, node) -> None:
        """A name the program rebinds that tests use for builtins or modules (`all`, `abs`,
        `max`, `math`, `np`) is the program's, as in Python; but wrapped around the answer and
        test values (`all(f(x) == y for ...)`, `abs(f(1) - 2.5)`, `math.isclose(f(1), 2.5)`), the
        program's code would get the expected values and decide. Such a test is refused."""
        root = node
        while isinstance(root, (ast.Call, ast.Attribute, ast.Subscript)):
            root = root.func if isinstance(root, ast.Call) else root.value
        if not (isinstance(root, ast.Name) and root.id in SHADOWABLE):
            return
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and self._test_values_around_program(call):
                raise InvalidTest(f"the program defines {root.id!r}, and the test wraps it around "
                                  f"the program's answer and test values: the program's own code "
                                  f"would decide the comparison")

    def _test_values_around_program(self, call: ast.Call) -> bool:
        """Whether `call`'s arguments hold a call into the program *and*, outside that call's
        own arguments, a constant or a comparison, condition, comprehension or lambda."""
        program_call, glue = False, False
        stack = list(call.args) + [kw.value for kw in call.keywords]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Call) and self.program_names(node.func, frozenset()):
                program_call = True
                continue  # its arguments are its inputs
            if isinstance(node, (ast.Constant, ast.Compare, ast.BoolOp, ast.IfExp, ast.Lambda,
                                 ast.NamedExpr) + _COMPREHENSIONS):
                glue = True
            stack.extend(ast.iter_child_nodes(node))
        return program_call and glue

    def _call(self, node: ast.Call, bound, conditional) -> ast.expr:
        func_program = self.program_names(node.func, bound)
        func_closable = (not (self.free[id(node.func)] & bound) and id(node.func) not in self.walrus)
        args = [self.split(a, bound, conditional) for a in node.args]
        keywords = [ast.keyword(kw.arg, self.split(kw.value, bound, conditional)) for kw in node.keywords]
        if func_program and func_closable and self._spine_closable(node.func):
            k = self.site(node.func, conditional, "apply")
            return ast.Call(func=ast.Name(APPLY_HOOK, ast.Load()), args=[
                ast.Constant(k), ast.Tuple(elts=args, ctx=ast.Load()),
                ast.Dict(keys=[None if kw.arg is None else ast.Constant(kw.arg) for kw in keywords],
                         values=[kw.value for kw in keywords])], keywords=[])
        node.func = self.split(node.func, bound, conditional)
        node.args, node.keywords = args, keywords
        return node


def _bound_by(node: ast.AST) -> frozenset:
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
    return frozenset(names)


def _skippable(node: ast.AST, field: str, index: int) -> bool:
    """Whether Python may skip element `index` of a list field, or evaluate it out of source order."""
    if isinstance(node, ast.BoolOp):
        return index > 0  # short-circuit
    if isinstance(node, ast.Compare):
        return field == "comparators" and index > 0  # chained comparison stops early
    return isinstance(node, ast.Dict)  # keys and values interleave at run time


def _check_trusted(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id.startswith("__") and not node.id.startswith("__sbx_"):
            raise InvalidTest(f"name {node.id!r} is not allowed outside calls into the program")


class _Attributes(ast.NodeTransformer):
    """`x.name` in the trusted rest -> `__sbx_getattr__(x, 'name')`: the judge decides what an
    attribute read may reach (judge.trusted_getattr)."""

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            return ast.copy_location(ast.Call(func=ast.Name(GETATTR_HOOK, ast.Load()),
                                              args=[node.value, ast.Constant(node.attr)], keywords=[]), node)
        return node


class _Imports(ast.NodeTransformer):
    """__import__('math') -> the judge's trusted module, when the program does not define
    __import__ and the module is allowlisted."""

    def __init__(self, names: dict):
        self.names = names

    def visit_Call(self, node):
        self.generic_visit(node)
        if _import_call(node):
            module = trusted_module(node.args[0].value)
            if module is not None:
                name = MODULE_PREFIX + node.args[0].value.replace(".", "_")
                self.names[name] = module
                return ast.copy_location(ast.Name(name, ast.Load()), node)
        return node


def split_assert(test, resolve: Callable[[str], object] | None = None) -> SplitAssert:
    """Split one assert (a string or a ParsedTest); `resolve` maps a name to PROGRAM or to the
    trusted object it means (default: resolver(None))."""
    parsed = test if isinstance(test, ParsedTest) else parse_test(test)
    resolve = resolve or resolver(None)
    expr = copy.deepcopy(parsed.expr)
    names: dict[str, object] = {}
    if parsed.imports and resolve("__import__") is not PROGRAM:
        expr = _Imports(names).visit(expr)
    walrus = {n.target.id for n in ast.walk(expr) if isinstance(n, ast.NamedExpr)}
    outer = resolve
    # What __import__ still names after the rewrite (a module outside the allowlist) runs in
    # the child, as the program would import it.
    resolve = lambda n: PROGRAM if n == "__import__" else outer(n)  # noqa: E731
    splitter = _Splitter(expr, resolve, walrus, names)
    try:
        rewritten = _Attributes().visit(splitter.split(expr, frozenset()))
        tree = ast.fix_missing_locations(ast.Expression(rewritten))
        _check_trusted(tree)
        code = compile(tree, "<test>", "eval")
    except InvalidTest:
        raise
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise InvalidTest(f"cannot compile: {type(e).__name__}: {str(e)[:200]}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names and not node.id.startswith("__sbx_"):
            value = resolve(node.id)
            if value is not PROGRAM:
                names[node.id] = value
    # All call sites in one request only when there is one: a later site's source (e.g. the
    # expected `Decimal('1.5')` in `f(x) == Decimal('1.5')`) must not reach the child while an
    # earlier one runs.
    return SplitAssert(tuple(splitter.calls), code, names, splitter.eager and len(splitter.calls) == 1)
