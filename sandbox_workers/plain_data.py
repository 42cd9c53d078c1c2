"""Plain data across the sandbox boundary: a tagged JSON form, never pickle.

The child (untrusted) encodes a value only if every node has an exact builtin type, so
always-equal objects and container subclasses cannot cross. The parent decodes whatever bytes
arrive with a strict decoder that rebuilds genuine builtin objects, so a forged message can at
most claim some plain value: it can never smuggle behaviour into the parent.

Tags: JSON arrays are lists; a one-key object tags the rest:
{"t": [...]} tuple, {"s": [...]} set, {"f": [...]} frozenset, {"d": [[k, v], ...]} dict,
{"b": "latin-1 text"} bytes, {"c": [re, im]} complex.
"""
from __future__ import annotations

import json

MAX_DEPTH = 64
MAX_NODES = 1_000_000
MAX_BYTES = 16 * 1024 * 1024
# Built once: json.dumps / json.loads with options construct a new encoder / decoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


class NotPlainData(ValueError):
    """A value (or a message claiming one) is not bounded plain data."""


def to_plain(value, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES):
    """Return a JSON-able tagged form of `value`; raise NotPlainData for anything else."""
    budget = [max_nodes]

    def enc(v, depth):
        budget[0] -= 1
        if budget[0] < 0:
            raise NotPlainData(f"more than {max_nodes} nodes")
        if depth > max_depth:
            raise NotPlainData(f"nested deeper than {max_depth}")
        t = type(v)
        if v is None or t is bool or t is str or t is int or t is float:
            return v
        if t is list:
            return [enc(x, depth + 1) for x in v]
        if t is tuple:
            return {"t": [enc(x, depth + 1) for x in v]}
        if t is dict:
            return {"d": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        if t is set:
            return {"s": [enc(x, depth + 1) for x in v]}
        if t is frozenset:
            return {"f": [enc(x, depth + 1) for x in v]}
        if t is bytes:
            return {"b": v.decode("latin-1")}
        if t is complex:
            return {"c": [v.real, v.imag]}
        raise NotPlainData(f"value of type {t.__name__!s:.60} is not plain data")

    return enc(value, 0)


def dumps(value, *, max_bytes: int = MAX_BYTES) -> str:
    """Encode a value to tagged JSON text bounded by `max_bytes`."""
    try:
        text = _ENCODER.encode(to_plain(value))
    except NotPlainData:
        raise
    except (ValueError, RecursionError, OverflowError) as e:  # e.g. int above the digit limit
        raise NotPlainData(f"cannot encode: {type(e).__name__}: {str(e)[:200]}") from None
    if len(text) > max_bytes:
        raise NotPlainData(f"encoded value is {len(text)} bytes, over the {max_bytes} limit")
    return text


def _untag(obj: dict):
    if len(obj) != 1:
        raise NotPlainData(f"tagged object must have one key, got {sorted(obj)[:5]}")
    (tag, body), = obj.items()
    try:
        if tag == "t" and type(body) is list:
            return tuple(body)
        if tag == "d" and type(body) is list:
            out = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise NotPlainData("dict entries must be [key, value] pairs")
                out[pair[0]] = pair[1]
            return out
        if tag == "s" and type(body) is list:
            return set(body)
        if tag == "f" and type(body) is list:
            return frozenset(body)
        if tag == "b" and type(body) is str:
            return body.encode("latin-1")
        if tag == "c" and type(body) is list and len(body) == 2 and all(
                type(x) in (int, float) for x in body):
            return complex(body[0], body[1])
    except (TypeError, UnicodeEncodeError) as e:  # unhashable key / element, bytes > 0xff
        raise NotPlainData(f"bad {tag!r} payload: {e}") from None
    raise NotPlainData(f"unknown tag {tag!r:.40}")


_DECODER = json.JSONDecoder(object_hook=_untag)
_SCAN = _DECODER.scan_once  # the C scanner: no whitespace regexes around the value


def loads(text: str | bytes):
    """Rebuild a plain value from tagged JSON; raise NotPlainData on anything malformed."""
    if len(text) > MAX_BYTES + 1024:
        raise NotPlainData(f"message of {len(text)} bytes is over the limit")
    try:
        if type(text) is not str:
            text = text.decode("utf-8")
        value, end = _SCAN(text, 0)
    except NotPlainData:
        raise
    except StopIteration:
        raise NotPlainData("malformed plain-data message: no JSON value at the start") from None
    except (ValueError, RecursionError, TypeError) as e:
        raise NotPlainData(f"malformed plain-data message: {type(e).__name__}: {str(e)[:200]}") from None
    if end != len(text):
        raise NotPlainData(f"malformed plain-data message: extra data at {end}")
    return value
