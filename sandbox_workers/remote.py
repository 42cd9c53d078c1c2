"""Program objects on the trusted side: proxies whose every operation runs in the child.

A `Remote` stands for an object that stays in the sandbox child (a function, a class, a
generator, an instance of the program's class). Calling it, reading an attribute, iterating,
`len`, `hash`, `str` ... are forwarded to the child with argument *values* and come back as
values, so `sorted(xs, key=f)`, `isinstance(make(), Node)` and `s.pop()` behave as in plain Python.

Operations that would hand the program a test value *and* let it decide the outcome are the
reward-hacking channel (an `__eq__` that returns True, an `__sub__` that returns 0 inside
`abs(f(x) - 5) < eps`). Between two program objects they are forwarded (the program already
decides both sides, as in Python). Against a test value, an operator the program's class does
not define behaves as Python's default (`==` is identity, `<` raises TypeError, `in` iterates
and compares on the trusted side); one the program *does* define raises UnscorableTest, so the
test is an `error` that names the construct instead of a silent pass or fail.
"""
from __future__ import annotations

import operator

from sandbox_workers import values


class UnscorableTest(Exception):
    """The test needs the program's own code to compare against a test value."""


class ProgramError(Exception):
    """The program raised something the trusted side does not rebuild (e.g. SystemExit)."""


def program_made(v) -> bool:
    """Whether `v` stands for an object of the child (a Remote, or a mirror of one)."""
    return type(getattr(v, "_sbx_ref", None)) is int or (
        isinstance(v, type) and type(getattr(v, "_sbx_cls_ref", None)) is int) or (
        type(getattr(type(v), "_sbx_cls_ref", None)) is int)


def _refuse(remote: "Remote", what: str, dunders: str):
    raise UnscorableTest(
        f"{what} between a test value and an object of the program's class "
        f"{remote._sbx_name!r}, which defines {dunders}: the program's own code would decide "
        f"the outcome against the expected value")


def _compare(opname: str, flag: int, dunders: str):
    def method(self, other):
        if program_made(other):
            return self._sbx_channel.op("cmp", opname, self, other)
        if opname in ("eq", "ne") and self._sbx_flags & values.MAPPING_EQ:
            return _mapping_equal(self, other) if opname == "eq" else _negate(_mapping_equal(self, other))
        if self._sbx_flags & flag:
            _refuse(self, f"`{_SYMBOLS[opname]}`", dunders)
        return NotImplemented
    method.__name__ = f"__{opname}__"
    return method


def _mapping_equal(remote: "Remote", other):
    """collections.abc.Mapping's ==, evaluated here: the program supplies its items, the
    trusted side compares them."""
    from collections.abc import Mapping
    if not isinstance(other, Mapping):
        return NotImplemented
    return dict(remote.items()) == dict(other.items())


def _negate(result):
    return result if result is NotImplemented else not result


def _arith(opname: str, reflected: bool):
    def method(self, other):
        if program_made(other):
            a, b = (other, self) if reflected else (self, other)
            return self._sbx_channel.op("binop", opname, a, b)
        if self._sbx_flags & values.CUSTOM_ARITH:
            _refuse(self, f"arithmetic `{opname}`", "arithmetic operators")
        return NotImplemented
    method.__name__ = f"__{'r' if reflected else ''}{opname}__"
    return method


def _unary(opname: str):
    def method(self, *args):
        return self._sbx_channel.op(opname, self, *args)
    method.__name__ = f"__{opname}__"
    return method


_SYMBOLS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
BINOPS = {name: getattr(operator, name if name not in ("and", "or") else f"{name}_")
          for name in ("add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "pow",
                       "lshift", "rshift", "and", "xor", "or")}
BINOPS["divmod"] = divmod


class Remote:
    """An object that lives in the sandbox child, named by its handle number."""

    __slots__ = ("_sbx_ref", "_sbx_name", "_sbx_flags", "_sbx_channel")

    def __init__(self, ref: int, name: str, flags: int, channel):
        object.__setattr__(self, "_sbx_ref", ref)
        object.__setattr__(self, "_sbx_name", name)
        object.__setattr__(self, "_sbx_flags", flags)
        object.__setattr__(self, "_sbx_channel", channel)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._sbx_channel.op("getattr", self, name)

    def __setattr__(self, name, value):
        raise AttributeError("program objects cannot be changed by the trusted side")

    def __call__(self, *args, **kwargs):
        return self._sbx_channel.call(("op", "call", {"h": self._sbx_ref}), args, kwargs)

    def __getitem__(self, key):
        return self._sbx_channel.op("getitem", self, key)

    def __missing__(self, key):  # a dict subclass's mirror: the program's own __missing__
        return self._sbx_channel.op("getitem", self, key)

    def __iter__(self):
        if self._sbx_flags & values.ITERATOR:
            return self
        return self._sbx_channel.op("iter", self)

    def __next__(self):
        return self._sbx_channel.next(self)

    def __contains__(self, item):
        if program_made(item):
            return bool(self._sbx_channel.op("contains", self, item))
        if self._sbx_flags & values.CUSTOM_CONTAINS:
            # Its own __contains__ would see the test value (and decide); deciding by its
            # iteration instead would pass a program whose __contains__ is wrong.
            _refuse(self, "`in`", "__contains__")
        for element in self:  # Python's fallback for classes without __contains__
            if element is item or element == item:
                return True
        return False

    def __instancecheck__(self, obj):
        if program_made(obj):
            return bool(self._sbx_channel.op("isinstance", obj, self))
        # A test value is not sent (its class's metaclass would see it): its type is.
        return bool(self._sbx_channel.op("issubclass", type(obj), self))

    def __subclasscheck__(self, cls):
        return bool(self._sbx_channel.op("issubclass", cls, self))

    def __reduce_ex__(self, protocol):
        raise TypeError(f"an object of the program's class {self._sbx_name!r} cannot be copied "
                        f"by the trusted side")

    __eq__ = _compare("eq", values.CUSTOM_EQ, "__eq__")
    __ne__ = _compare("ne", values.CUSTOM_EQ, "__eq__ or __ne__")
    __lt__ = _compare("lt", values.CUSTOM_ORDER, "ordering")
    __le__ = _compare("le", values.CUSTOM_ORDER, "ordering")
    __gt__ = _compare("gt", values.CUSTOM_ORDER, "ordering")
    __ge__ = _compare("ge", values.CUSTOM_ORDER, "ordering")
    __len__ = _unary("len")
    __bool__ = _unary("bool")
    __hash__ = _unary("hash")
    __str__ = _unary("str")
    __repr__ = _unary("repr")
    __format__ = _unary("format")
    __reversed__ = _unary("reversed")
    __abs__ = _unary("abs")
    __neg__ = _unary("neg")
    __pos__ = _unary("pos")
    __invert__ = _unary("invert")
    __int__ = _unary("int")
    __float__ = _unary("float")
    __complex__ = _unary("complex")
    __index__ = _unary("index")
    __round__ = _unary("round")
    __trunc__ = _unary("trunc")
    __floor__ = _unary("floor")
    __ceil__ = _unary("ceil")


for _name in BINOPS:
    setattr(Remote, f"__{_name}__", _arith(_name, False))
    setattr(Remote, f"__r{_name}__", _arith(_name, True))


def mirror_namespace(name: str, cls_ref: int, channel, overridden=(), flags: int = 0) -> dict:
    """Class attributes of a mirror: the dunders the program's class redefines behave as on a
    Remote (forwarded to the child; guarded where they would see a test value)."""
    namespace = {"_sbx_cls_ref": cls_ref, "_sbx_flags": flags, "_sbx_name": name,
                 "_sbx_channel": channel}
    for dunder in overridden:
        method = Remote.__dict__.get(dunder)
        if method is not None and dunder not in ("__getattr__", "__setattr__"):
            namespace[dunder] = method
    return namespace


def mirror_class(name: str, base: type, cls_ref: int, channel, overridden=(), flags: int = 0,
                 unhashable: bool = False) -> type:
    """A trusted subclass of `base` standing for the program's class `cls_ref`: its value is
    the base's, so it compares, hashes, prints and answers builtin methods as `base` does
    (`f(1).startswith('a')` is str.startswith here); the dunders the program redefines act as on
    a Remote, and attributes `base` lacks (the program's own methods) are read in the child."""

    def __getattr__(self, attr):
        ref = self.__dict__.get("_sbx_ref")
        if attr.startswith("_") or ref is None:
            raise AttributeError(attr)
        return channel.op("getattr", self, attr)

    namespace = mirror_namespace(name, cls_ref, channel, overridden, flags)
    namespace.update(__getattr__=__getattr__, __module__="program", __qualname__=name)
    if unhashable:
        namespace["__hash__"] = None
    elif "__hash__" not in namespace and "__eq__" in namespace:
        namespace["__hash__"] = base.__hash__
    return type(name, (base,), namespace)


# Exceptions the child reports by their first builtin base class are raised on the trusted side
# as that builtin (so `next(it, d)`, `hasattr` and iteration see StopIteration/AttributeError);
# BaseExceptions outside Exception (SystemExit, KeyboardInterrupt) become ProgramError.
def rebuild_exception(base_name: str, description: str) -> Exception:
    import builtins
    cls = getattr(builtins, base_name, None) if isinstance(base_name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, Exception)) or cls is UnscorableTest:
        return ProgramError(description)
    if issubclass(cls, StopIteration):
        # Raised by a call, not by the end of the program's iterator (which arrives as "n"
        # replies): as StopIteration it would end the trusted side's map() or generator early
        # and `all(...)` would pass. A RuntimeError, as PEP 479 makes it inside generators.
        return RuntimeError(f"the program raised {description}")
    try:
        return cls(description)
    except Exception:  # noqa: BLE001 - builtins with odd constructors (UnicodeDecodeError ...)
        return ProgramError(description)
