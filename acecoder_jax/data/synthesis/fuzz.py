"""Type-directed input generation for a Python function, from its signature and surroundings.

Types come from annotations (`int`, `List[str]`, `dict[str, int]`, `Optional[float]`, ...), else
from defaults, else from how the body uses the parameter (`len(p)`, `p.split()`, `range(p)`, ...),
else from the parameter's name. Values mix edge cases (0, -1, "", []) with constants harvested from
the instruction text and the function body, so generated inputs hit the branches that matter.
All values are plain literals: `ast.literal_eval(repr(v)) == v` holds for every one.
"""
from __future__ import annotations

import ast
import dataclasses
import random
import re
import string

# A type is a tuple: ("int",), ("list", elem), ("tuple", (e1, e2) | elem, variadic), ("dict", k, v),
# ("set", elem), ("union", (t1, t2)), ("none",), ("any",)
INT, FLOAT, STR, BOOL, NONE, ANY = ("int",), ("float",), ("str",), ("bool",), ("none",), ("any",)

_NAMES = {"int": INT, "float": FLOAT, "str": STR, "bool": BOOL, "None": NONE, "NoneType": NONE,
          "Any": ANY, "object": ANY, "complex": FLOAT, "bytes": STR}
_SEQ = {"list": "list", "List": "list", "Sequence": "list", "Iterable": "list", "Collection": "list",
        "MutableSequence": "list", "set": "set", "Set": "set", "frozenset": "set", "FrozenSet": "set",
        "tuple": "tuple", "Tuple": "tuple", "dict": "dict", "Dict": "dict", "Mapping": "dict",
        "MutableMapping": "dict", "Optional": "optional", "Union": "union"}


def parse_annotation(node: ast.expr | None) -> tuple | None:
    """Annotation AST -> type tuple; None when unknown (the caller falls back to inference)."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "List[int]" forward refs
        try:
            return parse_annotation(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(node, ast.Constant) and node.value is None:
        return NONE
    if isinstance(node, ast.Name):
        if node.id in _NAMES:
            return _NAMES[node.id]
        if _SEQ.get(node.id) in ("list", "set"):
            return (_SEQ[node.id], INT)
        if _SEQ.get(node.id) == "dict":
            return ("dict", STR, INT)
        if _SEQ.get(node.id) == "tuple":
            return ("tuple", INT, True)
        return None
    if isinstance(node, ast.Attribute):  # typing.List[...] etc.
        return parse_annotation(ast.Name(id=node.attr))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # int | None
        left, right = parse_annotation(node.left), parse_annotation(node.right)
        opts = tuple(t for t in (left, right) if t is not None)
        return ("union", opts) if opts else None
    if isinstance(node, ast.Subscript):
        base = node.value.id if isinstance(node.value, ast.Name) else (
            node.value.attr if isinstance(node.value, ast.Attribute) else None)
        kind = _SEQ.get(base or "")
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        parsed = [parse_annotation(a) for a in args]
        if kind in ("list", "set"):
            return (kind, parsed[0] or INT)
        if kind == "dict":
            return ("dict", parsed[0] or STR, (parsed[1] if len(parsed) > 1 else None) or INT)
        if kind == "tuple":
            if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
                return ("tuple", parsed[0] or INT, True)
            return ("tuple", tuple(p or INT for p in parsed), False)
        if kind == "optional":
            return ("union", (parsed[0] or INT, NONE))
        if kind == "union":
            opts = tuple(p for p in parsed if p is not None)
            return ("union", opts) if opts else None
    return None


_STR_METHODS = {"split", "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith",
                "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "replace", "find",
                "join", "title", "capitalize", "swapcase", "encode", "zfill", "splitlines", "partition"}
_LIST_METHODS = {"append", "sort", "pop", "extend", "insert", "remove", "reverse", "index"}
_DICT_METHODS = {"items", "keys", "values", "get", "setdefault"}
_NAME_HINTS = [
    (re.compile(r"^(s|s\d|st|string|text|word|name|sentence|txt|line|char|c|ch|pattern|prefix|suffix|paragraph|"
                r"\w*_str|\w*string|\w*text|\w*word)$"), STR),
    (re.compile(r"^(words|strings|strs|names|lines|tokens|\w*_words|\w*_strings)$"), ("list", STR)),
    (re.compile(r"^(nums|numbers|arr|array|xs|lst|l|values|vals|items|data|seq|sequence|list\d?|"
                r"\w*_list|\w*nums|\w*s)$"), ("list", INT)),
    (re.compile(r"^(matrix|grid|board)$"), ("list", ("list", INT))),
    (re.compile(r"^(d|dic|dict|mapping|\w*_dict|\w*_map)$"), ("dict", STR, INT)),
    (re.compile(r"^(flag|is_\w+|\w*_flag)$"), BOOL),
]


FALLBACK_TYPES = (INT, STR, ("list", INT), ("list", STR), FLOAT)


def candidate_types(name: str, func: ast.FunctionDef) -> list[tuple]:
    """Ranked guesses for an unannotated parameter: usage, name, then common fallbacks."""
    ranked = [infer_from_usage(name, func, use_names=False), name_hint(name)] + list(FALLBACK_TYPES)
    out: list[tuple] = []
    for t in ranked:
        if t is not None and t not in out:
            out.append(t)
    return out


def name_hint(name: str) -> tuple | None:
    for pattern, t in _NAME_HINTS:
        if pattern.match(name):
            return t
    return None


def infer_from_usage(name: str, func: ast.FunctionDef, use_names: bool = True) -> tuple | None:
    """Guess a parameter's type from how the body uses it."""
    votes: dict[tuple, int] = {}

    def vote(t, w=1):
        votes[t] = votes.get(t, 0) + w

    for node in ast.walk(func):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name:
            if node.attr in _STR_METHODS:
                vote(STR, 3)
            elif node.attr in _LIST_METHODS:
                vote(("list", INT), 3)
            elif node.attr in _DICT_METHODS:
                vote(("dict", STR, INT), 3)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and any(
                isinstance(a, ast.Name) and a.id == name for a in node.args):
            if node.func.id == "range":
                vote(INT, 3)
            elif node.func.id in ("len", "sorted", "sum", "max", "min", "enumerate", "reversed", "set"):
                vote(("list", INT), 1)
            elif node.func.id in ("abs", "bin", "hex", "chr", "float"):
                vote(INT, 2)
            elif node.func.id == "ord":
                vote(STR, 2)
        if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.iter, ast.Name) and node.iter.id == name:
            vote(("list", INT), 1)
        if isinstance(node, ast.BinOp) and any(isinstance(s, ast.Name) and s.id == name for s in (node.left, node.right)):
            other = node.right if isinstance(node.left, ast.Name) and node.left.id == name else node.left
            if isinstance(other, ast.Constant) and isinstance(other.value, (int, float)) and not isinstance(other.value, bool):
                vote(INT if isinstance(other.value, int) else FLOAT, 2)
            if isinstance(other, ast.Constant) and isinstance(other.value, str):
                vote(STR, 2)
            if isinstance(node.op, (ast.Mod, ast.FloorDiv, ast.Pow)):
                vote(INT, 1)
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == name:
            for comp in node.comparators:
                if isinstance(comp, ast.Constant) and isinstance(comp.value, str):
                    vote(STR, 2)
                elif isinstance(comp, ast.Constant) and isinstance(comp.value, (int, float)) and not isinstance(comp.value, bool):
                    vote(INT, 2)
    if votes:
        return max(votes.items(), key=lambda kv: kv[1])[0]
    return name_hint(name) if use_names else None


def type_of_value(v) -> tuple:
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, int):
        return INT
    if isinstance(v, float):
        return FLOAT
    if isinstance(v, str):
        return STR
    if isinstance(v, list):
        return ("list", type_of_value(v[0]) if v else INT)
    if isinstance(v, tuple):
        return ("tuple", tuple(type_of_value(x) for x in v), False)
    if isinstance(v, dict):
        k = next(iter(v), "a")
        return ("dict", type_of_value(k), type_of_value(v[k]) if v else INT)
    if v is None:
        return ANY
    return ANY


@dataclasses.dataclass
class LiteralPool:
    """Constants harvested from instruction + program, used to seed generated values."""
    ints: list[int]
    floats: list[float]
    strs: list[str]

    @classmethod
    def harvest(cls, instruction: str, program_tree: ast.AST | None) -> "LiteralPool":
        ints, floats, strs = set(), set(), set()
        if program_tree is not None:
            for node in ast.walk(program_tree):
                if isinstance(node, ast.Constant):
                    v = node.value
                    if isinstance(v, bool):
                        continue
                    if isinstance(v, int) and abs(v) <= 10**6:
                        ints.update({v, v - 1, v + 1})
                    elif isinstance(v, float) and abs(v) <= 1e6:
                        floats.add(v)
                    elif isinstance(v, str) and 0 < len(v) <= 30 and "\n" not in v and not v.startswith(" " * 4):
                        strs.add(v)
        for m in re.finditer(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", instruction or ""):
            tok = m.group(0)
            if "." in tok:
                floats.add(float(tok))
            elif abs(int(tok)) <= 10**6:
                ints.update({int(tok), int(tok) + 1, int(tok) - 1})
        for m in re.finditer(r"""(?:'([^'\n]{1,30})'|"([^"\n]{1,30})")""", instruction or ""):
            strs.add(m.group(1) or m.group(2))
        return cls(sorted(ints), sorted(floats), sorted(strs))


_WORDS = ["", "a", "ab", "abc", "hello", "Hello World", "racecar", "aAbB", "xyz", "a b c", "12345",
          "banana", "Python", "  padded  ", "zzz", "level", "OpenAI", "mississippi", "a,b,c", "!?"]


def _hashable(t: tuple) -> tuple:
    """Set elements and dict keys must hash: containers other than tuples become str."""
    if t[0] in ("list", "set", "dict", "any"):
        return STR
    if t[0] == "union":
        opts = tuple(o for o in t[1] if o[0] not in ("list", "set", "dict", "any"))
        return ("union", opts) if opts else STR
    if t[0] == "tuple":
        return ("tuple", _hashable(t[1]), True) if t[2] else ("tuple", tuple(_hashable(e) for e in t[1]), False)
    return t


class ValueGen:
    """Draws plain values of a type; small on purpose (tests must stay readable and fast)."""

    def __init__(self, rng: random.Random, pool: LiteralPool, max_len: int = 6):
        self.rng, self.pool, self.max_len = rng, pool, max_len

    def int_(self) -> int:
        r = self.rng.random()
        if r < 0.3 and self.pool.ints:
            return self.rng.choice(self.pool.ints)
        if r < 0.55:
            return self.rng.choice([0, 1, -1, 2, 3, 5, 7, 10, -3, 12, 100])
        return self.rng.randint(-20, 60)

    def float_(self) -> float:
        if self.pool.floats and self.rng.random() < 0.3:
            return self.rng.choice(self.pool.floats)
        return self.rng.choice([0.0, 1.0, -1.5, 2.5, 0.25, 3.75, 10.0, -0.5, 100.125])

    def str_(self) -> str:
        r = self.rng.random()
        if r < 0.3 and self.pool.strs:
            return self.rng.choice(self.pool.strs)
        if r < 0.6:
            return self.rng.choice(_WORDS)
        n = self.rng.randint(0, 8)
        alphabet = string.ascii_lowercase[: self.rng.choice([3, 26])] + (" " if self.rng.random() < 0.3 else "")
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def value(self, t: tuple, depth: int = 0):
        kind = t[0]
        if kind == "int":
            return self.int_()
        if kind == "float":
            return self.float_()
        if kind == "str":
            return self.str_()
        if kind == "bool":
            return self.rng.random() < 0.5
        if kind == "none":
            return None
        if kind == "any":
            return self.value(self.rng.choice([INT, STR, ("list", INT), FLOAT]), depth)
        if kind == "union":
            return self.value(self.rng.choice(t[1]), depth)
        n = self.rng.choice([0, 1, 2, 3, 4, 5, self.max_len]) if depth == 0 else self.rng.randint(0, 3)
        if kind == "list":
            xs = [self.value(t[1], depth + 1) for _ in range(n)]
            if xs and self.rng.random() < 0.2:
                xs.sort(key=repr)
            if len(xs) > 1 and self.rng.random() < 0.2:
                xs[-1] = xs[0]  # a duplicate
            return xs
        if kind == "set":
            return set(self.value(_hashable(t[1]), depth + 1) for _ in range(n))
        if kind == "tuple":
            if t[2]:
                return tuple(self.value(t[1], depth + 1) for _ in range(n))
            return tuple(self.value(e, depth + 1) for e in t[1])
        if kind == "dict":
            return {self.value(_hashable(t[1]), depth + 1): self.value(t[2], depth + 1) for _ in range(n)}
        raise ValueError(f"unknown type tuple {t!r}")
