"""The sandbox child: load the program, evaluate call sites in order, reply plain data per test.

Everything here runs after confinement, in a process the program controls once it is loaded,
so nothing it sends is believed beyond "this is a plain value" (see plain_data).

Protocol (frames, see frames.py). The supervisor first sends the whole plan, which the child
reads completely before any program code runs: a JSON head frame {"program", "tests": k} and k
marshal frames, one per test that calls into the program, in test order: a list of call-site
code objects (an eager test: evaluate them all, in order) or None (an interactive test: serve
{"op": "call", "expr", "bind"} frames until {"op": "next"}). The code
objects are compiled by the supervisor from sources it produced itself (trusted data, cached
across jobs that share tests), so children skip the compiler. The child answers the load and
then every test (or interactive call) as soon as it completes, so the supervisor's per-test
deadlines attribute a hang to the right test. Replies are tagged plain-data JSON arrays:

  load:  ["ok"] | ["syntax", message, is_memory] | ["raise", message, is_memory]
  test:  ["v", [value, ...]]                     every call returned plain data
         ["e", [value, ...], message, is_memory] the call after the listed values raised
         ["np", [value, ...], message]           the call after the listed values was not plain

The child never receives expected values: call sites are sub-expressions that name the program.
"""
from __future__ import annotations

import builtins
import importlib
import io
import json
import marshal
import os
import socket
import sys

from sandbox_workers import frames, plain_data

# Stdlib modules a call site may name without the program importing them (e.g. HumanEval's
# `copy.deepcopy(...)` inside a candidate call).
AUTO_IMPORT = frozenset("math copy re string itertools collections functools heapq random "
                        "bisect operator statistics fractions decimal json".split())
PROGRAM_MODULE_NAME = "__sandbox_program__"


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - hostile __str__
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text[:300]}"


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


def _send(sock: socket.socket, text: str) -> None:
    _flush_output()
    payload = text.encode("utf-8", "surrogatepass")
    sock.sendall(frames.HEADER.pack(len(payload)) + payload)


def _failure(tag: str, exc: BaseException) -> str:
    return json.dumps([tag, _describe(exc), isinstance(exc, MemoryError)])


def _call_failure(parts: list[str], exc: BaseException) -> str:
    """The reply for a test whose call after `parts` (encoded values) raised `exc`."""
    return (f'["e",[{",".join(parts)}],{json.dumps(_describe(exc))},'
            f'{"true" if isinstance(exc, MemoryError) else "false"}]')


class _Program:
    """The loaded program's namespace and the evaluation of call sites in it."""

    def __init__(self):
        self.namespace: dict = {"__name__": PROGRAM_MODULE_NAME, "__builtins__": builtins}
        self.compiled: dict[str, object] = {}

    def load(self, source: str) -> str:
        try:
            code = compile(source, "<program>", "exec")
        except BaseException as e:  # noqa: BLE001
            return _failure("syntax", e)
        try:
            exec(code, self.namespace)  # noqa: S102 - this is the sandbox
        except BaseException as e:  # noqa: BLE001 - SystemExit etc. at import
            return _failure("raise", e)
        return '["ok"]'

    def evaluate(self, source, bindings: dict):
        """Evaluate a call site given as a code object or as source text."""
        if type(source) is str:
            code = self.compiled.get(source)
            if code is None:
                code = self.compiled[source] = compile(source, "<test>", "eval")
        else:
            code = source
        namespace = self.namespace
        saved = {name: namespace[name] for name in bindings if name in namespace}
        namespace.update(bindings)
        try:
            for _ in range(len(AUTO_IMPORT) + 1):
                try:
                    return eval(code, namespace)  # noqa: S307 - this is the sandbox
                except NameError as e:
                    if e.name in AUTO_IMPORT and e.name not in namespace:
                        namespace[e.name] = importlib.import_module(e.name)
                        continue
                    raise
        finally:
            for name in bindings:
                namespace.pop(name, None)
            namespace.update(saved)

    def run_calls(self, sources: list, bindings: dict | None = None) -> str:
        """Evaluate call sites in order, stopping at the first that raises or is not plain."""
        parts: list[str] = []
        size = 0
        for source in sources:
            try:
                value = self.evaluate(source, bindings or {})
            except BaseException as e:  # noqa: BLE001
                return _call_failure(parts, e)
            try:
                text = plain_data.dumps(value)
            except plain_data.NotPlainData as e:
                return f'["np",[{",".join(parts)}],{json.dumps(str(e)[:300])}]'
            except BaseException as e:  # noqa: BLE001 - MemoryError while encoding
                return _call_failure(parts, e)
            size += len(text) + 1
            if size > plain_data.MAX_BYTES:
                return (f'["np",[{",".join(parts)}],"values of one test are over '
                        f'{plain_data.MAX_BYTES} bytes together"]')
            parts.append(text)
        return f'["v",[{",".join(parts)}]]'


def _read_message(reader: frames.FrameReader) -> dict:
    message = json.loads(reader.read())
    if type(message) is not dict:
        raise frames.FrameError("frame is not a JSON object")
    return message


def _read_plan(reader: frames.FrameReader) -> tuple[str, list]:
    head = _read_message(reader)
    plan = [marshal.loads(reader.read()) for _ in range(int(head["tests"]))]
    return head["program"], plan


def _serve_interactive(sock: socket.socket, reader: frames.FrameReader, program: _Program) -> None:
    while True:
        request = _read_message(reader)
        op = request.get("op")
        if op == "next":
            return
        if op != "call":
            os._exit(0)
        try:
            bindings = plain_data.loads(request["bind"]) if request.get("bind") else {}
            if type(bindings) is not dict:
                raise plain_data.NotPlainData("bindings must be a dict")
            reply = program.run_calls([request["expr"]], bindings)
        except BaseException as e:  # noqa: BLE001 - malformed bindings
            reply = _call_failure([], e)
        _send(sock, reply)


def serve(sock: socket.socket) -> None:
    """Run the plan, then wait to be killed: the supervisor ends every child with SIGKILL."""
    reader = frames.FrameReader(sock)
    try:
        source, plan = _read_plan(reader)
    except BaseException:  # noqa: BLE001 - supervisor gone or stream forged: stop
        os._exit(0)
    program = _Program()
    try:
        reply = program.load(source)
        _send(sock, reply)
        if reply == '["ok"]':
            for entry in plan:
                if entry is None:
                    _serve_interactive(sock, reader, program)
                else:
                    _send(sock, program.run_calls(entry))
        while sock.recv(1 << 16):
            pass
    except BaseException:  # noqa: BLE001 - the supervisor closed the stream, or output broke
        pass
    os._exit(0)


def warm_up(rounds: int = 20) -> None:
    """Run the child's own code paths in the zygote, enough times for the interpreter to
    specialise them: lazily built state (encoder, compiler caches) and rewritten bytecode then
    already exist in every child, instead of being written (and copied on write) in each one."""
    import socket as socket_mod
    program_source = "def _warm(x):\n    return [x, (x,), {x: {x}}, b'', 1.5, None]\n"
    calls = marshal.dumps([compile("_warm(1)", "<test>", "eval"), compile("_warm(None)", "<test>", "eval")])
    plan = (frames.encode_frame({"program": program_source, "tests": 1})
            + frames.HEADER.pack(len(calls)) + calls)
    for _ in range(rounds):
        ours, theirs = socket_mod.socketpair(socket_mod.AF_UNIX, socket_mod.SOCK_STREAM)
        with ours, theirs:
            theirs.sendall(plan)
            reader = frames.FrameReader(ours)
            source, entries = _read_plan(reader)
            program = _Program()
            _send(ours, program.load(source))
            for entry in entries:
                _send(ours, program.run_calls(entry))
            answers = frames.FrameReader(theirs)
            for _ in range(1 + len(entries)):
                plain_data.loads(answers.read())


def reopen_std_streams() -> None:
    """Rebind sys.std* to fds 0-2 (the capture file), dropping buffers inherited from the zygote."""
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=False)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=True)
    sys.__stdout__, sys.__stderr__, sys.__stdin__ = sys.stdout, sys.stderr, sys.stdin
