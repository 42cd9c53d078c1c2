"""Length-prefixed frames over a stream socket, read with a deadline and a size bound.

Between the judge and the sandbox child: requests are marshalled tuples (judge to child only:
trusted data), replies tagged JSON (values.py). The reader never trusts the peer: a frame over
the bound, EOF or a missed deadline is an error, never a hang. Between the supervisor and its
judge (both trusted): `send_message` / `recv_message`, marshalled, with file descriptors.
"""
from __future__ import annotations

import array
import marshal
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
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)

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
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FrameTimeout()  # also when a peer trickles bytes that never make a frame
                # Wait first: a reply is never there yet right after a request (one poll and
                # one recv, not a recv that fails, a poll and a recv).
                if not self._poll.poll(left * 1000.0):
                    continue
            try:
                # At least READ_BYTES (heap-allocated, never zero-filled, shrunk to what arrived;
                # a 1 MiB read buffer would be an mmap/munmap pair per read), or the rest of a
                # big frame in one read. Without a deadline, a blocking recv.
                chunk = self.sock.recv(max(self._missing(), READ_BYTES),
                                       socket.MSG_DONTWAIT if deadline is not None else 0)
            except BlockingIOError:
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


def send_message(sock: socket.socket, message, fds: tuple = ()) -> None:
    """A marshalled message between trusted processes, with `fds` attached to its header."""
    payload = marshal.dumps(message)
    data = HEADER.pack(len(payload)) + payload
    if fds:
        sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        data = data[sent:]
    if data:
        sock.sendall(data)


def recv_message(sock: socket.socket, max_fds: int = 4):
    """(message, fds) from send_message; FrameError when the peer closed the stream."""
    fds: list[int] = []
    buffer = b""
    space = socket.CMSG_SPACE(max_fds * array.array("i").itemsize)
    while len(buffer) < HEADER.size:
        chunk, ancillary, _, _ = sock.recvmsg(READ_BYTES, space)
        if not chunk:
            raise FrameError("peer closed the stream")
        buffer += chunk
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(array.array("i", data[:len(data) - len(data) % 4]))
    (length,) = HEADER.unpack_from(buffer)
    end = HEADER.size + length
    parts = [buffer]
    size = len(buffer)
    while size < end:
        chunk = sock.recv(min(end - size, 1 << 22))
        if not chunk:
            raise FrameError("peer closed the stream")
        parts.append(chunk)
        size += len(chunk)
    data = b"".join(parts)
    if len(data) != end:
        raise FrameError("extra data after a message")
    return marshal.loads(data[HEADER.size:]), fds
