"""The sandbox child: load the program, evaluate what the judge asks, answer with values.

Everything here runs after confinement, in a process the program controls once it is loaded,
so nothing it sends is believed beyond "this is a value" (values.py decodes it strictly).

Requests (judge -> child) are marshalled tuples, trusted data; replies (child -> judge) are JSON
arrays. One request at a time, each carrying the code it needs: a call site reaches the child
only when the judge evaluates it, so no test, and no later part of a test, is visible earlier.

  ("load", source, names)        -> ["ok", {name: kind}] | ["syntax", desc, mem] | ["raise", desc, mem]
                                    kind: "p" a program value, "m:MODULE" a module,
                                    "a:MODULE:QUALNAME" a function/class from a module
  ("batch", [code])              -> ["b", [values], error | null]: the codes evaluated in order,
                                    stopping after the first that raised or whose value holds a
                                    program object (the judge batches a test's only call site)
  ("eval", code)                 -> ["v", value] | ["x", base, desc, mem]
  ("apply", code, [args, kwargs]) -> code's value called with the decoded arguments; when the
                                    call changed mutable arguments: ["v", value, changes]
  ("op", name, *args)            -> an operation on program objects (remote.py), e.g.
                                    ("op", "getattr", obj, "x"); "next" -> ["n", [values], end]

`base` is the first builtin class of a raised exception (the judge raises that builtin),
`desc` its description, `mem` whether it was a MemoryError.
"""
from __future__ import annotations

import builtins
import importlib
import io
import json
import marshal
import operator
import os
import socket
import sys
import types

from sandbox_workers import frames, values

# Stdlib modules a call site may name without the program importing them (a test file's
# imports, e.g. HumanEval's `math`).
AUTO_IMPORT = frozenset("math copy re string itertools collections functools heapq bisect "
                        "operator statistics fractions decimal json".split())
PROGRAM_MODULE = "__program__"
NEXT_CHUNK_MAX = 4096

_isinstance, _issubclass, _type, _getattr, _len, _iter, _next = (
    isinstance, issubclass, type, getattr, len, iter, next)


def _ceil(x):
    import math
    return math.ceil(x)


def _floor(x):
    import math
    return math.floor(x)


def _trunc(x):
    import math
    return math.trunc(x)


_BINOPS = {name: _getattr(operator, name if name not in ("and", "or") else f"{name}_")
           for name in ("add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "pow",
                        "lshift", "rshift", "and", "xor", "or")}
_BINOPS["divmod"] = divmod
_COMPARE = {name: _getattr(operator, name) for name in ("eq", "ne", "lt", "le", "gt", "ge")}
_UNARY = {"len": len, "bool": bool, "hash": hash, "str": str, "repr": repr, "iter": iter,
          "reversed": reversed, "abs": abs, "neg": operator.neg, "pos": operator.pos,
          "invert": operator.invert, "int": int, "float": float, "complex": complex,
          "index": operator.index, "trunc": _trunc, "floor": _floor, "ceil": _ceil,
          "type": type, "callable": callable}


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - hostile __str__
        text = "<unprintable>"
    try:
        name = _type(exc).__name__
    except BaseException:  # noqa: BLE001
        name = "Exception"
    return f"{name}: {text[:300]}"


def _builtin_base(exc: BaseException) -> str:
    for klass in _type(exc).__mro__:
        if klass.__module__ == "builtins":
            return klass.__name__
    return "Exception"


def _error(exc: BaseException) -> list:
    return [_builtin_base(exc), _describe(exc), _isinstance(exc, MemoryError)]


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


class _Program:
    """The loaded program's namespace, its call sites, and the objects handed to the judge."""

    def __init__(self):
        module = types.ModuleType(PROGRAM_MODULE)
        # A real module in sys.modules: dataclasses, pickle, typing and enum look the program's
        # classes up there by their __module__.
        sys.modules[PROGRAM_MODULE] = module
        self.namespace = module.__dict__
        self.namespace["__builtins__"] = builtins
        self.codec = values.ChildCodec()

    def load(self, source: str, names) -> list:
        try:
            code = compile(source, "<program>", "exec")
        except BaseException as e:  # noqa: BLE001
            return ["syntax", _describe(e), _isinstance(e, MemoryError)]
        try:
            exec(code, self.namespace)  # noqa: S102 - this is the sandbox
        except BaseException as e:  # noqa: BLE001 - SystemExit etc. at import
            return ["raise", _describe(e), _isinstance(e, MemoryError)]
        return ["ok", self.classify(names)]

    def classify(self, names) -> dict:
        """What each of the tests' names is in the loaded program (see the module doc)."""
        kinds = {}
        for name in names:
            if name not in self.namespace:
                continue
            value = self.namespace[name]
            kind = "p"
            try:
                if _isinstance(value, types.ModuleType):
                    module_name = value.__name__
                    if _type(module_name) is str:
                        kind = "m:" + module_name
                elif callable(value):
                    module_name = _getattr(value, "__module__", None)
                    qualname = _getattr(value, "__qualname__", None)
                    if (_type(module_name) is str and _type(qualname) is str
                            and module_name != PROGRAM_MODULE):
                        kind = f"a:{module_name}:{qualname}"
            except BaseException:  # noqa: BLE001 - a hostile object: it stays the program's
                kind = "p"
            kinds[name] = kind
        return kinds

    def evaluate(self, code):
        namespace = self.namespace
        for _ in range(len(AUTO_IMPORT) + 1):
            try:
                return eval(code, namespace)  # noqa: S307 - this is the sandbox
            except NameError as e:
                if e.name in AUTO_IMPORT and e.name not in namespace:
                    namespace[e.name] = importlib.import_module(e.name)
                    continue
                raise

    def value(self, compute, changes: bool = False) -> str:
        """["v", value] for what `compute()` returns (["v", value, changes] after a call that
        changed its arguments), or the error it raised."""
        try:
            result = compute()
            text = self.codec.dumps(result)
            if changes:
                changed = self.codec.changes()  # already encoded trees
                if changed:
                    return '["v",' + text + "," + _json(changed) + "]"
            return '["v",' + text + "]"
        except values.ValueLimit as e:
            return _json(["x", "ValueError", f"the value cannot be sent: {e}", False])
        except BaseException as e:  # noqa: BLE001
            return _json(["x"] + _error(e))

    def batch(self, codes) -> str:
        parts = []
        for code in codes:
            try:
                text = self.codec.dumps(self.evaluate(code))
            except values.ValueLimit as e:
                return _batch(parts, ["ValueError", f"the value cannot be sent: {e}", False])
            except BaseException as e:  # noqa: BLE001
                return _batch(parts, _error(e))
            parts.append(text)
            if self.codec.produced_handle:
                break  # the judge works on this program object before the next call runs
        return _batch(parts, None)

    def call(self, function, arguments):
        args, kwargs = self.codec.decode_args(arguments)
        return function(*args, **kwargs)

    def next_items(self, obj, n) -> str:
        codec = self.codec
        parts = []
        end = None
        try:
            for _ in range(max(1, min(int(n), NEXT_CHUNK_MAX))):
                parts.append(codec.dumps(_next(obj)))
        except StopIteration:
            end = "stop"
        except values.ValueLimit as e:
            end = ["ValueError", f"the value cannot be sent: {e}", False]
        except BaseException as e:  # noqa: BLE001
            end = _error(e)
        return '["n",[' + ",".join(parts) + "]," + _json(end) + "]"

    def op(self, request: tuple) -> str:
        name = request[1]
        dec = self.codec.decode
        if name == "next":
            return self.next_items(dec(request[2]), request[3])
        if name == "call":
            return self.value(lambda: self.call(dec(request[2]), request[3]), changes=True)
        if name == "getattr":
            return self.value(lambda: _getattr(dec(request[2]), request[3]))
        if name == "getitem":
            return self.value(lambda: dec(request[2])[dec(request[3])])
        if name == "contains":
            return self.value(lambda: dec(request[3]) in dec(request[2]))
        if name in ("isinstance", "issubclass"):
            check = _isinstance if name == "isinstance" else _issubclass
            return self.value(lambda: check(dec(request[2]), dec(request[3])))
        if name == "cmp":
            return self.value(lambda: _COMPARE[request[2]](dec(request[3]), dec(request[4])))
        if name == "binop":
            return self.value(lambda: _BINOPS[request[2]](dec(request[3]), dec(request[4])))
        if name == "format":
            return self.value(lambda: format(dec(request[2]), dec(request[3])))
        if name == "round":
            return self.value(lambda: round(dec(request[2]), *[dec(a) for a in request[3:]]))
        unary = _UNARY.get(name)
        if unary is None:
            return _json(["x", "TypeError", f"unknown operation {name!r:.40}", False])
        return self.value(lambda: unary(dec(request[2])))


_json = json.JSONEncoder(separators=(",", ":")).encode


def _batch(parts: list, error) -> str:
    return '["b",[' + ",".join(parts) + "]," + ("null" if error is None else _json(error)) + "]"


def _send(sock: socket.socket, text: str) -> None:
    _flush_output()
    payload = text.encode("ascii")
    sock.sendall(frames.HEADER.pack(len(payload)) + payload)


def handle(program: _Program, request: tuple) -> str:
    """The reply to one request."""
    kind = request[0]
    if kind == "batch":
        return program.batch(request[1])
    if kind == "eval":
        return program.value(lambda: program.evaluate(request[1]))
    if kind == "apply":
        return program.value(lambda: program.call(program.evaluate(request[1]), request[2]),
                             changes=True)
    if kind == "op":
        return program.op(request)
    raise frames.FrameError(f"unknown request {kind!r:.40}")


def serve(sock: socket.socket) -> None:
    """Serve requests until the judge closes the stream; the supervisor then kills the child."""
    reader = frames.FrameReader(sock)
    try:
        request = marshal.loads(reader.read())
        if request[0] != "load":
            os._exit(0)
    except BaseException:  # noqa: BLE001 - judge gone or stream forged: stop
        os._exit(0)
    program = _Program()
    try:
        reply = program.load(request[1], request[2])
        _send(sock, _json(reply))
        if reply[0] != "ok":
            while sock.recv(1 << 16):
                pass
            os._exit(0)
        while True:
            _send(sock, handle(program, marshal.loads(reader.read())))
    except BaseException:  # noqa: BLE001 - the judge closed the stream, or output broke
        pass
    os._exit(0)


def warm_up(rounds: int = 20) -> None:
    """Run the child's own code paths in the zygote, enough times for the interpreter to
    specialise them: lazily built state (encoder, compiler caches) and rewritten bytecode then
    already exist in every child, instead of being written (and copied on write) in each one."""
    source = "def _warm(x):\n    return [x, (x,), {x: {x}}, b'', 1.5, None, 2 ** 70]\n"
    codes = [compile("_warm(1)", "<test>", "eval"), compile("_warm(None)", "<test>", "eval")]
    for _ in range(rounds):
        program = _Program()
        program.load(source, ("_warm",))
        handle(program, ("batch", codes))
        handle(program, ("eval", codes[0]))
    sys.modules.pop(PROGRAM_MODULE, None)


def reopen_std_streams() -> None:
    """Rebind sys.std* to fds 0-2 (the capture file), dropping buffers inherited from the zygote."""
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=False)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=True)
    sys.__stdout__, sys.__stderr__, sys.__stdin__ = sys.stdout, sys.stderr, sys.stdin
