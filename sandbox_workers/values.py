"""Values across the sandbox boundary: a tagged JSON form, never pickle.

The child (untrusted) encodes what a call returned; the judge (trusted) rebuilds it as objects of
exact stdlib types whose `==` is Python's own, so an honest program's Counter, namedtuple,
Fraction, datetime, Enum member or numpy array compares exactly as in plain Python, while nothing
the program made (no method, no subclass, no `__eq__`) ever reaches the trusted side. What has no
faithful rebuild (functions, classes, generators, instances of the program's classes) stays in
the child and crosses as a *handle*; the judge wraps it in a `remote.Remote` whose operations are
forwarded back to the child (see remote.py).

Tags: a JSON array is a list; a one-key object tags everything else:
  t tuple, s set, f frozenset, d dict [[k, v], ...], b bytes (latin-1), ba bytearray,
  c complex [re, im], i int (hex text, for |n| >= 2**63), u str with lone surrogates (code
  points: JSON would merge a surrogate pair), r range, sl slice,
  Ctr Counter, OD OrderedDict, dd defaultdict [factory, items], dq deque [maxlen, items],
  CM ChainMap [maps], ar array [typecode, items],
  dk / dv / di dict keys / values / items views, Fr Fraction [n, d], De Decimal (text),
  dt datetime, da date, ti time, td timedelta, tz timezone, zi ZoneInfo (key),
  ex builtin exception [name, args],
  nd numpy array [dtype, shape, base64] | [null, shape, [elements]] (object dtype),
  ns numpy scalar [dtype, base64], ndt numpy dtype (its str),
  en Enum member [class handle, value, description?],
  sub instance of a program subclass of a builtin, or of Counter, OrderedDict, defaultdict,
      deque (namedtuples included): [object handle, class handle, base value, description?];
      the description lists the dunders the class redefines (the mirror forwards or guards them),
  h handle [number, type name, flags] (child -> judge) | number (judge -> child),
  a one of the call's arguments, by position in the judge's encoding order (both ways),
  T a builtin (child -> judge: only the safe ones) or a trusted module attribute by name
    "module:qualname" (judge -> child), em a rebuilt Enum member [class handle, value].
Class descriptions are sent the first time a class handle crosses, and checked (no member
named like a method, only known dunders).

Both directions are bounded: depth, nodes and bytes.
"""
from __future__ import annotations

import base64
import json
import os
import sys

MAX_DEPTH = 400
MAX_NODES = 1_000_000
MAX_BYTES = 16 * 1024 * 1024
INT_LIMIT = 1 << 63

# Handle flags: what the child says about a program object (never believed beyond scoring
# stricter: a lie can only turn a comparison into an error or False).
CUSTOM_EQ = 1        # its class defines == / != (so comparing it to a test value is its decision)
CUSTOM_ORDER = 2     # defines < <= > >=
CUSTOM_ARITH = 4     # defines arithmetic or bitwise operators
CUSTOM_CONTAINS = 8  # defines `in`
ITERATOR = 16        # has __next__
MAPPING_EQ = 128     # its == is collections.abc.Mapping's (compare items on the trusted side)
PURE_ITERATOR = 256  # an iterator over data (list, str, range, dict ...): may be read ahead
CALLABLE = 32
IS_CLASS = 64

_COMPARE = ("__eq__", "__ne__")
_ORDER = ("__lt__", "__le__", "__gt__", "__ge__")
_ARITH_OPS = ("add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "divmod", "pow",
              "lshift", "rshift", "and", "xor", "or")
_ARITH = tuple(f"__{p}{op}__" for op in _ARITH_OPS for p in ("", "r", "i"))
# Dunders whose override makes an instance of a builtin subclass behave unlike its base: such
# an instance crosses as a handle, not as a rebuilt base value.
SPECIAL_METHODS = frozenset(_COMPARE + _ORDER + _ARITH + (
    "__hash__", "__bool__", "__len__", "__iter__", "__next__", "__reversed__", "__contains__",
    "__getitem__", "__missing__", "__call__", "__getattr__", "__getattribute__", "__str__",
    "__repr__", "__format__", "__int__", "__float__", "__complex__", "__index__", "__round__",
    "__trunc__", "__floor__", "__ceil__", "__abs__", "__neg__", "__pos__", "__invert__",
    "__instancecheck__", "__subclasscheck__"))
BUILTIN_BASES = (bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)
_DISPLAY_DUNDERS = frozenset({"__repr__", "__str__", "__format__"})
# The builtins the judge evaluates tests with, and the only ones a child may name in a result
# ({"T": "builtins:len"}): no eval, exec, open, getattr or __import__.
SAFE_BUILTIN_NAMES = frozenset((
    "abs all any ascii bin bool bytearray bytes chr complex dict divmod enumerate filter float "
    "format frozenset hash hex int isinstance issubclass iter len list map max min next oct ord "
    "pow range repr reversed round set slice sorted str sum tuple type zip callable object "
    "ArithmeticError AssertionError AttributeError Exception IndexError KeyError LookupError "
    "NotImplementedError OverflowError RuntimeError StopIteration TypeError ValueError "
    "ZeroDivisionError UnicodeError NameError RecursionError BaseException").split())

_ENCODER = json.JSONEncoder(separators=(",", ":"))
# Iterators that run no program code per element: reading them ahead changes nothing.
_PURE_ITERATORS = frozenset(type(it) for it in (
    iter([]), iter(()), iter(range(0)), iter(range(1 << 70)), iter(""), iter("é"), iter(set()),
    iter(frozenset()), iter({}), iter({}.values()), iter({}.items()), iter(b""), iter(bytearray()),
    reversed([]), reversed(range(0)), reversed(())))
_BUILTIN_FUNCTION = type(len)
_DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _utf16_units(text: str) -> list:
    """A string's code points as numbers: JSON escapes would merge a surrogate pair into one."""
    return [ord(c) for c in text]


# The exact builtin containers and values both directions encode alike: type -> (encode, v, depth).
_BUILTIN_TREES = {
    list: lambda enc, v, d: [enc(x, d) for x in v],
    tuple: lambda enc, v, d: {"t": [enc(x, d) for x in v]},
    dict: lambda enc, v, d: {"d": [[enc(k, d), enc(x, d)] for k, x in v.items()]},
    set: lambda enc, v, d: {"s": [enc(x, d) for x in v]},
    frozenset: lambda enc, v, d: {"f": [enc(x, d) for x in v]},
    bytes: lambda enc, v, d: {"b": v.decode("latin-1")},
    bytearray: lambda enc, v, d: {"ba": bytes(v).decode("latin-1")},
    complex: lambda enc, v, d: {"c": [v.real, v.imag]},
    range: lambda enc, v, d: {"r": [_int(v.start), _int(v.stop), _int(v.step)]},
    slice: lambda enc, v, d: {"sl": [enc(v.start, d), enc(v.stop, d), enc(v.step, d)]},
}


class ValueLimit(ValueError):
    """A value is too large or too deep to cross, or a message claiming one is malformed."""


class ValueBudget(ValueLimit):
    """The replies of one test hold more values or bytes than a test may rebuild."""


def _int(v: int):
    return v if -INT_LIMIT < v < INT_LIMIT else {"i": hex(v)}


def _from_int(x) -> int:
    if type(x) is int:
        return x
    if type(x) is dict and len(x) == 1 and type(x.get("i")) is str and len(x["i"]) < 4_000_000:
        return int(x["i"], 16)
    raise ValueLimit("expected an integer")


def _generated(func, origin: str) -> bool:
    """A method written by the stdlib (dataclasses: compiled from '<string>'; namedtuple:
    compiled in collections), not by the program."""
    code = getattr(func, "__code__", None)
    return code is not None and code.co_filename == origin


def _user_defines(cls: type, names) -> bool:
    """Whether the program's own code (not object, builtins or dataclass-generated methods)
    defines one of `names` for instances of `cls`."""
    params = getattr(cls, "__dataclass_params__", None)
    for klass in cls.__mro__:
        if klass is object or klass.__module__ == "builtins":
            return False
        d = klass.__dict__
        for n in names:
            if n in d:
                if params is not None and _generated(d[n], "<string>"):
                    continue
                if n == "__hash__" and d[n] is None:
                    continue
                return True
    return False


def _stdlib_dir() -> str:
    return os.path.dirname(os.__file__)


def _program_wrote(method) -> bool:
    """Whether a class attribute is a function the program wrote (not a builtin slot, not code
    the stdlib wrote, e.g. the str/format EnumType copies into IntEnum subclasses)."""
    method = getattr(method, "__func__", method)
    code = getattr(method, "__code__", None)
    if code is None:
        return False
    filename = code.co_filename
    return not (filename.startswith(_stdlib_dir()) or filename.startswith("<frozen"))


def _program_defines(cls: type, names) -> bool:
    """Whether the program's own code defines one of `names` for instances of `cls`."""
    for klass in cls.__mro__:
        d = klass.__dict__
        if any(n in d and _program_wrote(d[n]) for n in names):
            return True
    return False


def _class_flags(cls: type, overridden) -> int:
    """Handle flags for a mirrored class from the dunders its program code redefines."""
    names = set(overridden)
    flags = 0
    if names.intersection(_COMPARE):
        flags |= CUSTOM_EQ
    if names.intersection(_ORDER):
        flags |= CUSTOM_ORDER
    if names.intersection(_ARITH):
        flags |= CUSTOM_ARITH
    if "__contains__" in names:
        flags |= CUSTOM_CONTAINS
    if "__next__" in names:
        flags |= ITERATOR
    return flags


def _base_value(v, base: type):
    """`v`'s value as its builtin (or collections) base holds it, read without the subclass's
    own methods."""
    name = base.__name__
    if base.__module__ == "collections":
        coll = sys.modules["collections"]
        if name == "deque":
            return coll.deque(coll.deque.__iter__(v), v.maxlen)
        if name == "defaultdict":
            return coll.defaultdict(v.default_factory, dict.items(v))
        if name == "OrderedDict":
            return coll.OrderedDict(coll.OrderedDict.items(v))
        return coll.Counter(dict(dict.items(v)))
    if base in (list, dict, set, frozenset):
        return base.copy(v)
    if base in (tuple, bytes):
        return base.__getitem__(v, slice(None))
    if base is complex:
        return complex(complex.real.__get__(v), complex.imag.__get__(v))
    return {int: int.__int__, float: float.__float__, str: str.__str__}[base](v)


def _user_defines_before(cls: type, stop: type, names) -> bool:
    for klass in cls.__mro__:
        if klass is stop:
            return False
        if any(n in klass.__dict__ for n in names):
            return True
    return False


def handle_flags(v) -> int:
    cls = type(v)
    flags = 0
    if _user_defines(cls, _COMPARE):
        flags |= CUSTOM_EQ
        abc = sys.modules.get("collections.abc")
        owner = next((k for k in cls.__mro__ if "__eq__" in k.__dict__), None)
        if abc is not None and owner is abc.Mapping and not _user_defines_before(cls, owner, _COMPARE):
            flags = (flags & ~CUSTOM_EQ) | MAPPING_EQ
    if _user_defines(cls, _ORDER):
        flags |= CUSTOM_ORDER
    if _user_defines(cls, _ARITH):
        flags |= CUSTOM_ARITH
    if _user_defines(cls, ("__contains__",)):
        flags |= CUSTOM_CONTAINS
    if hasattr(cls, "__next__"):
        flags |= ITERATOR
        if cls in _PURE_ITERATORS:
            flags |= PURE_ITERATOR
    if callable(v):
        flags |= CALLABLE
    if isinstance(v, type):
        flags |= IS_CLASS
    return flags


# ---------------------------------------------------------------------------------------------
# The child's side: encode results, decode arguments
# ---------------------------------------------------------------------------------------------


class ChildCodec:
    """Encoder of program values (and decoder of the judge's arguments) in the sandbox child.

    Keeps every program object it has handed out a handle for alive until the job ends, so a
    handle always names the same object and `is` works across calls.

    Why over 150 lines: one method per value kind of the wire format; kept in one class beside
    TrustedCodec, its mirror image, so a reader checks each encoder against its decoder.
    """

    def __init__(self):
        self.objects: list = []
        self._ids: dict[int, int] = {}
        self._described: set[int] = set()
        self._kinds: dict[type, object] = {}
        # Mutable arguments of the current call (the judge's objects, copied in): a result
        # that is one of them, or holds one, names it ({"a": i}) instead of a copy, and their
        # changes are sent back (copy-out), so identity and in-place mutation look as in Python.
        self.received: list = []
        self._received_ids: dict[int, int] = {}
        self._before: list = []
        self._top = None
        self._tracking = False

    # -- handles ---------------------------------------------------------------------------
    def ref(self, obj) -> int:
        key = id(obj)
        n = self._ids.get(key)
        if n is None or self.objects[n] is not obj:
            n = len(self.objects)
            self.objects.append(obj)
            self._ids[key] = n
        return n

    def handle(self, obj) -> dict:
        self.produced_handle = True
        return {"h": [self.ref(obj), type(obj).__qualname__[:200], handle_flags(obj)]}

    def resolve(self, n):
        if type(n) is not int or not 0 <= n < len(self.objects):
            raise ValueLimit(f"unknown handle {n!r:.40}")
        return self.objects[n]

    # -- encoding --------------------------------------------------------------------------
    def dumps(self, value, max_bytes: int = MAX_BYTES) -> str:
        """Encode one value as JSON text (ASCII: surrogates and all of unicode survive)."""
        self.produced_handle = False
        self._budget = MAX_NODES
        tree = self.encode(value, 0)
        try:
            text = _ENCODER.encode(tree)
        except (ValueError, RecursionError, OverflowError) as e:
            raise ValueLimit(f"cannot encode: {type(e).__name__}: {str(e)[:200]}") from None
        if len(text) > max_bytes:
            raise ValueLimit(f"value of {len(text)} bytes is over the {max_bytes} limit")
        return text

    def encode(self, v, depth: int):
        self._budget -= 1
        if self._budget < 0:
            raise ValueLimit(f"value has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise ValueLimit(f"value is nested deeper than {MAX_DEPTH}")
        t = type(v)
        if t is str:
            return v if v.isascii() or not _has_surrogates(v) else {"u": _utf16_units(v)}
        if v is None or t is bool or t is float:
            return v
        if t is int:
            return _int(v)
        if self._received_ids:
            i = self._received_ids.get(id(v))
            if i is not None and self.received[i] is v and not (depth == 0 and v is self._top):
                return {"a": i}
        # Inline, not through _BUILTIN_TREES: one Python frame per nesting level (plus the
        # comprehension's), so a value as deep as MAX_DEPTH encodes within the default
        # recursion limit of a child whose limit the program may have left as it was.
        d = depth + 1
        if t is list:
            return [self.encode(x, d) for x in v]
        if t is tuple:
            return {"t": [self.encode(x, d) for x in v]}
        if t is dict:
            return {"d": [[self.encode(k, d), self.encode(x, d)] for k, x in v.items()]}
        if t is set:
            return {"s": [self.encode(x, d) for x in v]}
        if t is frozenset:
            return {"f": [self.encode(x, d) for x in v]}
        if t in _BUILTIN_TREES:
            return _BUILTIN_TREES[t](self.encode, v, d)
        kind = self._kinds.get(t)
        if kind is None:
            kind = self._kinds[t] = self._classify(t)
        if kind is False:
            return self.handle(v)
        return kind(v, d)

    def _items(self, tag, v, d):
        return {tag: [[self.encode(k, d), self.encode(x, d)] for k, x in dict.items(v)]}

    def _classify(self, t: type):
        """The encoder for instances of `t` (a type that is not a plain builtin), or False."""
        m = sys.modules
        coll = m.get("collections")
        if coll is not None:
            if t is coll.Counter:
                return lambda v, d: self._items("Ctr", v, d)
            if t is coll.OrderedDict:  # its own order (move_to_end), not the dict's
                return lambda v, d: {"OD": [[self.encode(k, d), self.encode(x, d)] for k, x in v.items()]}
            if t is coll.ChainMap:
                return lambda v, d: {"CM": [self.encode(m, d) for m in v.maps]}
            if t is coll.defaultdict:
                return self._defaultdict
            if t is coll.deque:
                return lambda v, d: {"dq": [v.maxlen, [self.encode(x, d) for x in v]]}
        if t in _DICT_VIEWS:
            tag = ("dk", "dv", "di")[_DICT_VIEWS.index(t)]
            if tag == "di":
                return lambda v, d: {tag: [[self.encode(k, d), self.encode(x, d)] for k, x in v]}
            return lambda v, d: {tag: [self.encode(x, d) for x in v]}
        fractions = m.get("fractions")
        if fractions is not None and t is fractions.Fraction:
            return lambda v, d: {"Fr": [_int(v.numerator), _int(v.denominator)]}
        decimal = m.get("decimal")
        if decimal is not None and t is decimal.Decimal:
            return lambda v, d: {"De": str(v)}
        dt = m.get("datetime")
        if dt is not None and t in (dt.datetime, dt.date, dt.time, dt.timedelta, dt.timezone):
            return self._datetime
        zoneinfo = m.get("zoneinfo")
        if zoneinfo is not None and t is zoneinfo.ZoneInfo:
            return lambda v, d: {"zi": str(v.key)} if v.key is not None else self.handle(v)
        np = m.get("numpy")
        if np is not None and t.__module__.partition(".")[0] == "numpy":
            if t is np.ndarray:
                return self._ndarray
            if issubclass(t, np.generic) and t.__module__ == "numpy" and t is not np.object_:
                return self._np_scalar
            if issubclass(t, np.dtype):
                return lambda v, d: ({"ndt": v.str} if v.fields is None and v.kind not in "OV"
                                     else self.handle(v))
        if t in (type, _BUILTIN_FUNCTION):
            return self._builtin_object
        array = m.get("array")
        if array is not None and t is array.array:
            return lambda v, d: {"ar": [v.typecode, v.tolist()]}
        enum = m.get("enum")
        if enum is not None and isinstance(t, enum.EnumType):
            return self._enum
        if t.__module__ == "builtins" and issubclass(t, BaseException):
            return lambda v, d: ({"ex": [t.__name__, [self.encode(a, d) for a in v.args]]}
                                 if type(v.args) is tuple else self.handle(v))
        if coll is not None:  # a program subclass of Counter, OrderedDict, defaultdict, deque
            for stdlib_base in (coll.Counter, coll.OrderedDict, coll.defaultdict, coll.deque):
                if t is not stdlib_base and issubclass(t, stdlib_base):
                    overridden = self._overrides(t, stdlib_base)
                    if set(overridden) - _DISPLAY_DUNDERS:
                        # These bases are Python code that calls dunders on self (Counter's ==
                        # reads self[k] for the other side's keys): a forwarded __getitem__ or
                        # __missing__ would see the test's keys and decide the comparison.
                        return False
                    return lambda v, d, b=stdlib_base: self._subclass(v, t, b, overridden, d)
        base = next((b for b in t.__mro__ if b in BUILTIN_BASES), None)
        if base is not None and base is not bool:
            overridden = self._overrides(t, base)
            return lambda v, d: self._subclass(v, t, base, overridden, d)
        return False

    def _builtin_object(self, v, d):
        """A builtin class or function (`int`, `ValueError`, `len`) by name, else a handle."""
        import builtins
        name = getattr(v, "__qualname__", None)
        if getattr(v, "__module__", None) == "builtins" and type(name) is str and (
                getattr(builtins, name, None) is v):
            return {"T": f"builtins:{name}"}
        return self.handle(v)

    @staticmethod
    def _overrides(t: type, base: type) -> list[str]:
        """The dunders `t` redefines over `base` (its mirror forwards or guards them)."""
        coll = sys.modules.get("collections")
        origin = getattr(coll, "__file__", None)
        names = set()
        for klass in t.__mro__:
            if klass is base:
                break
            d = klass.__dict__
            for name in SPECIAL_METHODS.intersection(d):
                if name == "__repr__" and "_fields" in d and _generated(d[name], origin):
                    continue  # a namedtuple's own repr: rebuilt as a real namedtuple
                names.add(name)
        return sorted(names)

    def _describe(self, cls_ref: int) -> bool:
        if cls_ref in self._described:
            return False
        self._described.add(cls_ref)
        return True

    def _subclass(self, v, t, base, overridden, d):
        cls_ref = self.ref(t)
        value = self.encode(_base_value(v, base), d)
        entry = [self.ref(v), cls_ref, value]
        if self._describe(cls_ref):
            fields = None
            for klass in t.__mro__:
                if "_fields" in klass.__dict__ and issubclass(klass, tuple):
                    fields = [str(f) for f in klass._fields]
                    break
            entry.append([t.__name__[:200], base.__name__, fields, overridden,
                          _class_flags(t, overridden), t.__hash__ is None])
        self.produced_handle = True
        return {"sub": entry}

    def _defaultdict(self, v, d):
        factory = v.default_factory
        if factory is None:
            encoded = None
        elif getattr(factory, "__module__", None) == "builtins" and isinstance(factory, type):
            encoded = {"T": f"builtins:{factory.__name__}"}
        else:
            encoded = self.handle(factory)
        return {"dd": [encoded, [[self.encode(k, d), self.encode(x, d)] for k, x in dict.items(v)]]}

    def _tz(self, tz, d):
        if tz is None:
            return None
        dt = sys.modules["datetime"]
        if type(tz) is dt.timezone:
            return self._datetime(tz, d)
        zoneinfo = sys.modules.get("zoneinfo")
        if zoneinfo is not None and type(tz) is zoneinfo.ZoneInfo and tz.key is not None:
            return {"zi": str(tz.key)}
        raise _NoRebuild()

    def _datetime(self, v, d):
        dt = sys.modules["datetime"]
        t = type(v)
        try:
            if t is dt.datetime:
                return {"dt": [v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond,
                               self._tz(v.tzinfo, d), v.fold]}
            if t is dt.date:
                return {"da": [v.year, v.month, v.day]}
            if t is dt.time:
                return {"ti": [v.hour, v.minute, v.second, v.microsecond, self._tz(v.tzinfo, d), v.fold]}
            if t is dt.timedelta:
                return {"td": [v.days, v.seconds, v.microseconds]}
            offset = v.utcoffset(None)
            name = v.tzname(None)
            return {"tz": [[offset.days, offset.seconds, offset.microseconds],
                           None if v is dt.timezone.utc else name]}
        except _NoRebuild:
            return self.handle(v)

    def _ndarray(self, v, d):
        dtype = v.dtype
        if dtype.kind == "O":
            return {"nd": [None, list(v.shape), [self.encode(x, d) for x in v.ravel().tolist()]]}
        if dtype.fields is not None or dtype.kind == "V" or dtype.hasobject:
            return self.handle(v)
        raw = v.tobytes(order="C")
        if len(raw) > MAX_BYTES:
            raise ValueLimit(f"numpy array of {len(raw)} bytes is over the {MAX_BYTES} limit")
        return {"nd": [dtype.str, list(v.shape), base64.b64encode(raw).decode("ascii")]}

    def _np_scalar(self, v, d):
        dtype = v.dtype
        if dtype.fields is not None or dtype.kind in "OV":
            return self.handle(v)
        return {"ns": [dtype.str, base64.b64encode(v.tobytes()).decode("ascii")]}

    def _enum(self, v, d):
        cls = type(v)
        cls_ref = self.ref(cls)
        try:
            value = self.encode(v._value_, d)
        except ValueLimit:
            raise
        if self.produced_handle:  # a value that is itself a program object: no faithful mirror
            return self.handle(v)
        entry = [cls_ref, value]
        if cls_ref not in self._described:
            enum = sys.modules["enum"]
            flavour = next(b.__name__ for b in cls.__mro__
                           if b in (enum.IntFlag, enum.Flag, enum.IntEnum, enum.StrEnum, enum.Enum))
            member_type = cls._member_type_
            mixin = None if member_type is object else (
                member_type.__name__ if member_type in (int, float, str, bytes, complex) else False)
            if mixin is False:
                return self.handle(v)
            members = [[str(name), self.encode(m._value_, d)] for name, m in cls.__members__.items()]
            if self.produced_handle:
                return self.handle(v)
            self._described.add(cls_ref)
            overridden = sorted(n for n in SPECIAL_METHODS - {"__hash__"} if _program_defines(cls, (n,)))
            entry.append([cls.__name__[:200], flavour, mixin, members, overridden,
                          _class_flags(cls, overridden)])
        return {"en": entry}

    # -- decoding the judge's arguments ----------------------------------------------------
    def decode_args(self, tree):
        """Arguments of one call; their mutable containers are remembered (see `received`)."""
        self.received, self._received_ids, self._tracking = [], {}, True
        try:
            value = self.decode(tree)
        finally:
            self._tracking = False
        self._before = [self.contents(obj) for obj in self.received]
        return value

    def _keep(self, obj):
        if self._tracking:
            self._received_ids[id(obj)] = len(self.received)
            self.received.append(obj)
        return obj

    def decode(self, x):
        """Rebuild an argument the judge sent (already a marshal-decoded tree of plain data).
        Containers are made before their elements, in the judge's encoding order, so `{"a": i}`
        names the same object on both sides."""
        t = type(x)
        if x is None or t in (bool, int, float, str):
            return x
        dec = self.decode
        if t is list:
            out = self._keep([])
            out.extend(dec(e) for e in x)
            return out
        if t is not dict or len(x) != 1:
            raise ValueLimit(f"malformed argument of type {t.__name__}")
        (tag, body), = x.items()
        if tag == "a":
            if type(body) is not int or not 0 <= body < len(self.received):
                raise ValueLimit("unknown argument reference")
            return self.received[body]
        if tag == "h":
            return self.resolve(body)
        if tag == "T":
            return _import_attr(body)
        if tag == "em":
            return self.resolve(body[0])(dec(body[1]))
        if tag in ("d", "Ctr", "OD", "dd", "s", "ba", "dq"):
            return self._mutable(tag, body)
        return _rebuild(tag, body, dec)

    def _mutable(self, tag, body):
        import collections
        dec = self.decode
        if tag == "s":
            out = self._keep(set())
            for e in body:
                out.add(dec(e))
            return out
        if tag == "ba":
            return self._keep(bytearray(body.encode("latin-1")))
        if tag == "dq":
            out = self._keep(collections.deque(maxlen=None if body[0] is None else _from_int(body[0])))
            out.extend(dec(e) for e in body[1])
            return out
        if tag == "dd":
            out = self._keep(collections.defaultdict())
            out.default_factory = None if body[0] is None else dec(body[0])
            items = body[1]
        else:
            out = self._keep({"d": dict, "Ctr": collections.Counter, "OD": collections.OrderedDict}[tag]())
            items = body
        for k, v in items:
            key = dec(k)
            out[key] = dec(v)
        return out

    def contents(self, obj):
        """The encoding of a received object's own contents (other received objects by reference)."""
        self._top, self._budget = obj, MAX_NODES
        try:
            return self.encode(obj, 0)
        finally:
            self._top = None

    def changes(self) -> list:
        """[[i, contents], ...] for the received objects the call changed; then forget them."""
        out = [[i, after] for i, (obj, before) in enumerate(zip(self.received, self._before))
               if (after := self.contents(obj)) != before]
        self.received, self._received_ids, self._before = [], {}, []
        return out


class _NoRebuild(Exception):
    pass


def _import_attr(spec: str):
    import importlib
    module, _, qualname = spec.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _rebuild(tag: str, body, dec):
    """The tags both sides rebuild the same way (stdlib value types)."""
    if tag == "t":
        return tuple(dec(e) for e in body)
    if tag == "d":
        return {dec(k): dec(v) for k, v in body}
    if tag == "s":
        return {dec(e) for e in body}
    if tag == "f":
        return frozenset(dec(e) for e in body)
    if tag == "i":
        return _from_int({"i": body})
    if tag == "b":
        return body.encode("latin-1")
    if tag == "ba":
        return bytearray(body.encode("latin-1"))
    if tag == "c":
        return complex(float(body[0]), float(body[1]))
    if tag == "r":
        return range(_from_int(body[0]), _from_int(body[1]), _from_int(body[2]))
    if tag == "sl":
        return slice(dec(body[0]), dec(body[1]), dec(body[2]))
    if tag in ("Ctr", "OD", "dd"):
        import collections
        if tag == "Ctr":
            return collections.Counter({dec(k): dec(v) for k, v in body})
        if tag == "OD":
            return collections.OrderedDict((dec(k), dec(v)) for k, v in body)
        factory = None if body[0] is None else dec(body[0])
        return collections.defaultdict(factory, {dec(k): dec(v) for k, v in body[1]})
    if tag == "u":
        if type(body) is not list or not all(type(c) is int and 0 <= c < 0x110000 for c in body):
            raise ValueLimit("malformed string")
        return "".join(map(chr, body))
    if tag == "CM":
        import collections
        return collections.ChainMap(*[dec(m) for m in body])
    if tag == "ar":
        import array
        return array.array(str(body[0]), [dec(e) for e in body[1]])
    if tag == "ndt":
        import numpy as np
        return np.dtype(str(body))
    if tag == "dq":
        import collections
        return collections.deque((dec(e) for e in body[1]),
                                 None if body[0] is None else _from_int(body[0]))
    if tag == "dk":
        return dict.fromkeys(dec(e) for e in body).keys()
    if tag == "dv":
        return dict(enumerate(dec(e) for e in body)).values()
    if tag == "di":
        return {dec(k): dec(v) for k, v in body}.items()
    if tag == "Fr":
        import fractions
        return fractions.Fraction(_from_int(body[0]), _from_int(body[1]))
    if tag == "De":
        import decimal
        if type(body) is not str or len(body) > 100_000:
            raise ValueLimit("malformed Decimal")
        return decimal.Decimal(body)
    if tag in ("dt", "da", "ti", "td", "tz", "zi"):
        return _rebuild_datetime(tag, body, dec)
    if tag == "ex":
        import builtins
        cls = getattr(builtins, str(body[0]), None)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            raise ValueLimit(f"unknown exception type {body[0]!r:.60}")
        return cls(*[dec(a) for a in body[1]])
    if tag in ("nd", "ns"):
        return _rebuild_numpy(tag, body, dec)
    raise ValueLimit(f"unknown tag {tag!r:.40}")


def _rebuild_datetime(tag, body, dec):
    import datetime as dt
    if tag == "zi":
        import zoneinfo
        return zoneinfo.ZoneInfo(str(body))
    if tag == "tz":
        offset = dt.timedelta(days=body[0][0], seconds=body[0][1], microseconds=body[0][2])
        return dt.timezone.utc if body[1] is None and not offset else (
            dt.timezone(offset) if body[1] is None else dt.timezone(offset, str(body[1])))
    if tag == "td":
        return dt.timedelta(days=body[0], seconds=body[1], microseconds=body[2])
    if tag == "da":
        return dt.date(*body)
    tz = None if body[-2] is None else dec(body[-2])
    if tag == "dt":
        return dt.datetime(*body[:7], tzinfo=tz, fold=body[8])
    return dt.time(*body[:4], tzinfo=tz, fold=body[5])


def _rebuild_numpy(tag, body, dec):
    import numpy as np
    if tag == "ns":
        return np.frombuffer(base64.b64decode(body[1]), dtype=np.dtype(str(body[0])))[0]
    dtype, shape = body[0], tuple(int(s) for s in body[1])
    if dtype is None:
        out = np.empty(len(body[2]), dtype=object)
        for i, e in enumerate(body[2]):
            out[i] = dec(e)
        return out.reshape(shape)
    raw = base64.b64decode(body[2])
    return np.frombuffer(raw, dtype=np.dtype(str(dtype))).reshape(shape).copy()


# ---------------------------------------------------------------------------------------------
# The judge's side: decode results, encode arguments
# ---------------------------------------------------------------------------------------------


class TrustedCodec:
    """Rebuilds child values as trusted objects; program objects become Remotes.

    Why over 150 lines: the decoders of ChildCodec's value kinds, one method each (see there).

    `channel` (judge.Channel) makes the Remotes (`channel.remote(ref, type name, flags)`, one
    per handle) and serves the mirrors' forwarded attribute reads. Mirrors (rebuilt classes for
    the program's Enums and builtin subclasses) are made once per class handle and kept for the
    child's life, so `f() is Color.RED` holds.
    """

    def __init__(self, channel):
        self.channel = channel
        self.mirrors: dict[int, type] = {}
        self.sent: list | None = None  # mutable containers of the arguments being sent
        self._sent_ids: dict[int, int] = {}
        self.budget = MAX_NODES  # containers one reply may rebuild (reset per reply)
        self.start_test()

    def start_test(self) -> None:
        """Values (brackets and commas: containers and atoms) and bytes the replies of one test
        may bring in all: the judge's memory for a test stays in proportion to one value."""
        self.test_marks, self.test_bytes = 2 * MAX_NODES + 64, MAX_BYTES + 65536

    def loads(self, text: str | bytes):
        """Parse one reply; its values are counted (brackets and commas) against the test's budget
        before the parser builds them: millions of empty lists or short strings are a few MiB of
        text but GiBs of objects."""
        if len(text) > MAX_BYTES + 1024:
            raise ValueLimit(f"message of {len(text)} bytes is over the limit")
        marks = sum(text.count(m) for m in ((b"[", b"{", b",") if type(text) is not str else ("[", "{", ",")))
        self.test_marks -= marks
        self.test_bytes -= len(text)
        if self.test_marks < 0 or self.test_bytes < 0:
            raise ValueBudget(f"the program's values in one test are over {2 * MAX_NODES} parts or "
                              f"{MAX_BYTES} bytes")
        self.budget = MAX_NODES
        try:
            if type(text) is not str:
                text = bytes(text).decode("ascii")
            tree, end = _SCAN(text, 0)
        except StopIteration:
            raise ValueLimit("malformed message: no JSON value") from None
        except (ValueError, RecursionError, TypeError) as e:
            raise ValueLimit(f"malformed message: {type(e).__name__}: {str(e)[:200]}") from None
        if end != len(text):
            raise ValueLimit(f"malformed message: extra data at {end}")
        return tree

    def decode(self, x, depth: int = 0):
        t = type(x)
        if x is None or t is str or t is bool or t is int or t is float:
            return x
        if depth > MAX_DEPTH + 8:
            raise ValueLimit("value nested too deeply")
        self.budget -= 1
        if self.budget < 0:
            raise ValueLimit(f"a reply of more than {MAX_NODES} containers")
        dec = self._child(depth + 1)
        if t is list:
            return [dec(e) for e in x]
        if t is not dict or len(x) != 1:
            raise ValueLimit(f"malformed value of type {t.__name__}")
        (tag, body), = x.items()
        try:
            if tag == "h":
                ref, name, flags = body
                if type(ref) is not int or type(name) is not str or type(flags) is not int:
                    raise ValueLimit("malformed handle")
                return self.channel.remote(ref, name, flags)
            if tag == "en":
                return self._enum(body, dec)
            if tag == "sub":
                return self._subclass(body, dec)
            if tag == "a":  # one of the arguments we sent (the same object, as in Python)
                if self.sent is None or type(body) is not int or not 0 <= body < len(self.sent):
                    raise ValueLimit("unknown argument reference")
                return self.sent[body]
            if tag == "T":  # a builtin the program returned (`int`, `len`): ours, by name
                import builtins
                module, _, name = str(body).partition(":")
                obj = getattr(builtins, name, None) if module == "builtins" else None
                if obj is None or name not in SAFE_BUILTIN_NAMES and not (
                        isinstance(obj, type) and issubclass(obj, BaseException)):
                    raise ValueLimit(f"the program returned the builtin {body!r:.60}, which tests "
                                     f"cannot use")
                return obj
            return _rebuild(tag, body, dec)
        except ValueLimit:
            raise
        except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError) as e:
            raise ValueLimit(f"bad {tag!r:.20} value: {type(e).__name__}: {str(e)[:200]}") from None

    def _child(self, depth):
        return lambda e: self.decode(e, depth)

    def _mirror(self, cls_ref: int, description, build):
        mirror = self.mirrors.get(cls_ref)
        if mirror is None:
            if description is None:
                raise ValueLimit(f"class handle {cls_ref} was never described")
            mirror = self.mirrors[cls_ref] = build(description)
        return mirror

    def _enum(self, body, dec):
        import enum
        cls_ref, value = body[0], dec(body[1])

        def build(description):
            from sandbox_workers import remote
            name, flavour, mixin, members, overridden, flags = description
            bases = {"IntFlag": enum.IntFlag, "Flag": enum.Flag, "IntEnum": enum.IntEnum,
                     "StrEnum": enum.StrEnum, "Enum": enum.Enum}
            base = bases[flavour]
            _check_names([k for k, _ in members], "member")  # a member named __eq__ would be a method
            _check_overridden(overridden)
            kwargs = {}
            if base is enum.Enum and mixin is not None:
                kwargs["type"] = {"int": int, "float": float, "str": str, "bytes": bytes,
                                  "complex": complex}[mixin]
            mirror = base(str(name), [(str(k), dec(v)) for k, v in members], **kwargs)
            for attr, value in remote.mirror_namespace(str(name), cls_ref, self.channel,
                                                       overridden, int(flags)).items():
                type.__setattr__(mirror, attr, value)
            return mirror
        mirror = self._mirror(cls_ref, body[2] if len(body) > 2 else None, build)
        return mirror(value)

    def _subclass(self, body, dec):
        obj_ref, cls_ref, value = body[0], body[1], dec(body[2])

        def build(description):
            from sandbox_workers import remote
            import collections
            name, base_name, fields, overridden, flags, unhashable = description
            bases = {b.__name__: b for b in BUILTIN_BASES + _collection_bases()}
            base = bases[base_name]
            if fields is not None:
                _check_names(fields, "field")
            _check_overridden(overridden)
            if fields is not None:
                import collections
                base = collections.namedtuple(str(name), [str(f) for f in fields], rename=True)
            return remote.mirror_class(str(name), base, cls_ref, self.channel, overridden,
                                       int(flags), unhashable is True)
        mirror = self._mirror(cls_ref, body[3] if len(body) > 3 else None, build)
        base = mirror.__mro__[1]
        if type(value) is not _value_type(base):
            raise ValueLimit(f"a {type(value).__name__} value for a subclass of {base.__name__}")
        if hasattr(base, "_fields"):
            instance = mirror(*value)
        elif base.__name__ == "defaultdict":
            instance = mirror(value.default_factory, value)
        elif base.__name__ == "deque":
            instance = mirror(value, value.maxlen)
        else:
            instance = mirror(value)
        instance._sbx_ref = obj_ref
        return instance

    # -- arguments for the child -----------------------------------------------------------
    def encode_args(self, value):
        """Encode a call's arguments, remembering their mutable containers in `self.sent` (in
        the order the child rebuilds them) until `accept_changes` / `forget_sent`."""
        self.sent, self._sent_ids = [], {}
        return self.encode(value)

    def accept_changes(self, changes) -> None:
        """Apply the child's copy-out: each changed argument container is updated in place."""
        if type(changes) is not list:
            raise ValueLimit("malformed changes")
        for entry in changes:
            if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not int or not (
                    self.sent is not None and 0 <= entry[0] < len(self.sent)):
                raise ValueLimit("malformed change")
            target, new = self.sent[entry[0]], self.decode(entry[1])
            if type(new) is not type(target):
                raise ValueLimit("a change of an argument's type")
            if isinstance(target, (list, bytearray)):
                target[:] = new
            elif isinstance(target, set):
                target.clear()
                target.update(new)
            elif isinstance(target, dict):
                target.clear()
                for k, x in new.items():
                    dict.__setitem__(target, k, x) if type(target) is dict else target.__setitem__(k, x)
            else:  # deque
                target.clear()
                target.extend(new)

    def forget_sent(self) -> None:
        self.sent, self._sent_ids = None, {}

    def encode(self, v, depth: int = 0):
        """A trusted value as a marshal-able tagged tree for the child."""
        if depth > MAX_DEPTH:
            raise ValueLimit(f"argument nested deeper than {MAX_DEPTH}")
        t = type(v)
        if v is None or t is str or t is bool or t is float:
            return v
        if t is int:
            return _int(v)
        if self.sent is not None and t in (_MUTABLE or _mutable_types()):
            i = self._sent_ids.get(id(v))
            if i is not None:
                return {"a": i}
            self._sent_ids[id(v)] = len(self.sent)
            self.sent.append(v)
        enc = lambda e: self.encode(e, depth + 1)  # noqa: E731
        ref = getattr(v, "_sbx_ref", None) if not isinstance(v, type) else None
        if type(ref) is int:
            return {"h": ref}
        cls_ref = getattr(v, "_sbx_cls_ref", None) if isinstance(v, type) else None
        if type(cls_ref) is int:
            return {"h": cls_ref}
        enum_cls_ref = getattr(type(v), "_sbx_cls_ref", None)
        if type(enum_cls_ref) is int and hasattr(v, "_value_"):
            return {"em": [enum_cls_ref, enc(v._value_)]}
        if t in _BUILTIN_TREES:
            return _BUILTIN_TREES[t](self.encode, v, depth + 1)
        tree = _TrustedTreeCodec(self).stdlib_tree(v, depth)
        if tree is not None:
            return tree
        name = _trusted_name(v)
        if name is not None:
            return {"T": name}
        raise ValueLimit(f"a test value of type {t.__name__} cannot be passed to the program")


class _Handle(Exception):
    pass


class _TrustedTreeCodec(ChildCodec):
    """ChildCodec's stdlib encoders applied to trusted values (a Counter or a Fraction passed
    as an argument): nested values go through the trusted encoder, so Remotes inside become
    handles, and nothing here makes a new handle."""

    def __init__(self, trusted: TrustedCodec):
        super().__init__()
        self._trusted = trusted

    def stdlib_tree(self, v, depth: int):
        kind = self._classify(type(v))
        if not kind:
            return None
        try:
            return kind(v, depth + 1)
        except _Handle:
            return None

    def encode(self, v, depth):
        return self._trusted.encode(v, depth)

    def handle(self, obj):
        raise _Handle()

    def ref(self, obj):
        raise _Handle()


def _collection_bases() -> tuple:
    import collections
    return (collections.Counter, collections.OrderedDict, collections.defaultdict, collections.deque)


def _value_type(base: type) -> type:
    """The exact type a mirror's base value rebuilds as (a namedtuple's is tuple)."""
    return tuple if hasattr(base, "_fields") else base


def _check_names(names, what: str) -> None:
    if type(names) is not list or len(names) > 10_000 or not all(
            type(n) is str and n.isidentifier() and not n.startswith("_") for n in names):
        raise ValueLimit(f"malformed class description: bad {what} names")


def _check_overridden(names) -> None:
    if type(names) is not list or not all(type(n) is str and n in SPECIAL_METHODS for n in names):
        raise ValueLimit("malformed class description: bad method names")


_MUTABLE: tuple = ()


def _mutable_types() -> tuple:
    global _MUTABLE
    import collections
    _MUTABLE = (list, dict, set, bytearray, collections.deque, collections.Counter,
                collections.OrderedDict, collections.defaultdict)
    return _MUTABLE


def _trusted_name(v) -> str | None:
    """"module:qualname" for a class or function of an importable module (e.g. builtins:len)."""
    module = getattr(v, "__module__", None)
    qualname = getattr(v, "__qualname__", None)
    if not (isinstance(v, type) or callable(v)) or type(module) is not str or type(qualname) is not str:
        return None
    if "<" in qualname or module.startswith("sandbox_workers"):
        return None
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return f"{module}:{qualname}" if obj is v else None


_SCAN = json.JSONDecoder().scan_once  # the C scanner; strict=True, NaN/Infinity accepted
