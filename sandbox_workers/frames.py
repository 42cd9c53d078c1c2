"""Length-prefixed frames over a stream socket, read with a deadline and a size bound.

Used between the supervisor and the sandbox child. Payloads are JSON (the supervisor's
messages; the child's answers are tagged plain-data JSON, see plain_data) or marshalled call
code (supervisor to child only: trusted data). The reader never trusts the peer: a frame over
the bound, EOF or a missed deadline is an error, never a hang.
"""
from __future__ import annotations

import json
import select
import socket
import struct
import time

HEADER = struct.Struct(">I")
MAX_FRAME = 24 * 1024 * 1024
READ_BYTES = 1 << 16


class FrameError(Exception):
    """The peer sent something that is not a valid frame, or closed the stream."""


class FrameTimeout(Exception):
    """No complete frame arrived before the deadline."""


def encode_frame(message: dict) -> bytes:
    payload = json.dumps(message, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return HEADER.pack(len(payload)) + payload


def send_frame(sock: socket.socket, message: dict) -> None:
    sock.sendall(encode_frame(message))


class FrameReader:
    """Buffered frame reader: one recv may bring several frames (the child streams replies).

    `read` returns a frame's raw payload; `arrival` is the monotonic time of the recv that
    completed the last frame returned, so per-test deadlines start when the previous answer
    actually arrived rather than when the reader got round to it.
    """

    def __init__(self, sock: socket.socket, max_bytes: int = MAX_FRAME):
        self.sock = sock
        self.max_bytes = max_bytes
        self.buffer = bytearray()  # received bytes; frames before `pos` were already returned
        self.pos = 0
        self.arrival = time.monotonic()
        self._last_recv = self.arrival

    def _complete_frame(self) -> bytes | None:
        buffer, start = self.buffer, self.pos + HEADER.size
        if len(buffer) < start:
            return None
        (length,) = HEADER.unpack_from(buffer, self.pos)
        if length > self.max_bytes:
            raise FrameError(f"frame of {length} bytes is over the {self.max_bytes} limit")
        end = start + length
        if len(buffer) < end:
            return None
        self.pos = end
        return buffer[start:end]  # a bytearray copy; every consumer takes any bytes-like

    def _missing(self) -> int:
        """Bytes still needed for the frame being read (0 when its length is not known yet)."""
        if len(self.buffer) < self.pos + HEADER.size:
            return 0
        (length,) = HEADER.unpack_from(self.buffer, self.pos)
        return self.pos + HEADER.size + length - len(self.buffer)

    def read(self, deadline: float | None = None) -> bytearray:
        """The next frame's payload; FrameTimeout at `deadline` (monotonic), FrameError on EOF."""
        while True:
            payload = self._complete_frame()
            if payload is not None:
                self.arrival = self._last_recv
                return payload
            if deadline is not None and time.monotonic() >= deadline:
                raise FrameTimeout()  # also when a peer trickles bytes that never make a frame
            try:
                # At least READ_BYTES (heap-allocated, never zero-filled, shrunk to what arrived;
                # a 1 MiB read buffer would be an mmap/munmap pair per read), or the rest of a
                # big frame in one read.
                chunk = self.sock.recv(max(self._missing(), READ_BYTES), socket.MSG_DONTWAIT)
            except BlockingIOError:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                select.select([self.sock], [], [], left)
                continue
            except (ConnectionResetError, BrokenPipeError) as e:
                raise FrameError(f"stream broken: {e}") from None
            if not chunk:
                raise FrameError("peer closed the stream")
            if self.pos:  # drop returned frames (what is left is at most one partial frame)
                del self.buffer[:self.pos]
                self.pos = 0
            self.buffer += chunk
            self._last_recv = time.monotonic()
