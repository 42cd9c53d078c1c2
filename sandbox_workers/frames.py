"""Length-prefixed JSON frames over a stream socket, read with a deadline and a size bound.

Used between the supervisor, the zygote and the sandbox child. The reader never trusts the
peer: a frame over the bound, bad JSON or a missed deadline is an error, never a hang.
"""
from __future__ import annotations

import json
import select
import socket
import struct
import time

HEADER = struct.Struct(">I")
MAX_FRAME = 24 * 1024 * 1024


class FrameError(Exception):
    """The peer sent something that is not a valid frame, or closed the stream."""


class FrameTimeout(Exception):
    """No complete frame arrived before the deadline."""


def encode_frame(message: dict) -> bytes:
    payload = json.dumps(message, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return HEADER.pack(len(payload)) + payload


def send_frame(sock: socket.socket, message: dict) -> None:
    sock.sendall(encode_frame(message))


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FrameTimeout()
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                raise FrameTimeout()
        try:
            k = sock.recv_into(view[got:], n - got)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise FrameError(f"stream broken: {e}") from None
        if k == 0:
            raise FrameError("peer closed the stream")
        got += k
    return bytes(buf)


def recv_frame(sock: socket.socket, deadline: float | None = None, max_bytes: int = MAX_FRAME):
    """Read one frame; `deadline` is a time.monotonic() value or None to block."""
    (length,) = HEADER.unpack(_recv_exact(sock, HEADER.size, deadline))
    if length > max_bytes:
        raise FrameError(f"frame of {length} bytes is over the {max_bytes} limit")
    payload = _recv_exact(sock, length, deadline)
    try:
        message = json.loads(payload.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError) as e:
        raise FrameError(f"frame is not JSON: {str(e)[:200]}") from None
    if type(message) is not dict:
        raise FrameError("frame is not a JSON object")
    return message

