"""The sandbox child's request loop: load the program, evaluate call sites, reply plain data.

Everything here runs after confinement, in a process the program controls once it is loaded,
so nothing it sends is believed beyond "this is a plain value" (see plain_data).
"""
from __future__ import annotations

import builtins
import importlib
import io
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


def _reply_error(sock, exc: BaseException, **extra) -> None:
    frames.send_frame(sock, {"e": _describe(exc), "memory": isinstance(exc, MemoryError), **extra})


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


def serve(sock: socket.socket) -> None:
    """Handle frames until the supervisor kills this process (it never exits on its own)."""
    namespace: dict = {"__name__": PROGRAM_MODULE_NAME, "__builtins__": builtins}
    compiled: dict[str, object] = {}
    while True:
        try:
            request = frames.recv_frame(sock)
        except BaseException:  # noqa: BLE001 - supervisor gone or stream forged: stop
            os._exit(0)
        op = request.get("op")
        if op == "load":
            try:
                code = compile(request["program"], "<program>", "exec")
            except BaseException as e:  # noqa: BLE001
                frames.send_frame(sock, {"syntax_error": _describe(e), "memory": isinstance(e, MemoryError)})
                continue
            try:
                exec(code, namespace)  # noqa: S102 - this is the sandbox
                _flush_output()
                frames.send_frame(sock, {"ok": True})
            except BaseException as e:  # noqa: BLE001 - SystemExit etc. at import
                _flush_output()
                _reply_error(sock, e)
        elif op == "call":
            _call(sock, request, namespace, compiled)
        else:
            os._exit(0)


def _call(sock, request, namespace, compiled) -> None:
    source = request.get("expr", "")
    try:
        code = compiled.get(source)
        if code is None:
            code = compiled[source] = compile(source, "<test>", "eval")
        bindings = plain_data.loads(request["bind"]) if request.get("bind") else {}
        saved = {name: namespace[name] for name in bindings if name in namespace}
        namespace.update(bindings)
        try:
            for _ in range(len(AUTO_IMPORT) + 1):
                try:
                    value = eval(code, namespace)  # noqa: S307 - this is the sandbox
                    break
                except NameError as e:
                    if e.name in AUTO_IMPORT and e.name not in namespace:
                        namespace[e.name] = importlib.import_module(e.name)
                        continue
                    raise
        finally:
            for name in bindings:
                namespace.pop(name, None)
            namespace.update(saved)
        _flush_output()
        try:
            text = plain_data.dumps(value)
        except plain_data.NotPlainData as e:
            frames.send_frame(sock, {"not_plain": str(e)})
            return
        frames.send_frame(sock, {"v": text})
    except BaseException as e:  # noqa: BLE001
        _flush_output()
        try:
            _reply_error(sock, e)
        except BaseException:  # noqa: BLE001
            os._exit(1)


def reopen_std_streams() -> None:
    """Rebind sys.std* to fds 0-2 (the capture file), dropping buffers inherited from the zygote."""
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=False)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=True)
    sys.__stdout__, sys.__stderr__, sys.__stdin__ = sys.stdout, sys.stderr, sys.stdin
