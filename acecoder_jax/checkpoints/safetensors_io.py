"""Streaming safetensors reader/writer over fsspec (local paths and gs:// alike).

The format is an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
data_offsets}}, then raw little-endian bytes. Reading it ourselves lets one code path do ranged
reads from GCS tensor by tensor, and writing it ourselves lets export stream tensors into a file
without holding a whole shard in memory.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from typing import Callable, Iterable, Optional

import fsspec
import ml_dtypes
import numpy as np

_DTYPES = {
    "F64": np.dtype(np.float64), "F32": np.dtype(np.float32), "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16), "I64": np.dtype(np.int64), "I32": np.dtype(np.int32),
    "I16": np.dtype(np.int16), "I8": np.dtype(np.int8), "U8": np.dtype(np.uint8), "BOOL": np.dtype(bool),
}
_NAMES = {v: k for k, v in _DTYPES.items()}

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
NONFINITE_POLICIES = ("warn", "error", "ignore")


class SafetensorsError(ValueError):
    """A checkpoint file is not a valid safetensors file; the message names the file (and tensor)."""


def join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


class SafetensorsFile:
    """Header of one .safetensors file, checked against the file before any tensor is read
    (a truncated download or a corrupt header fails here, naming the file and tensor, instead of
    as an mmap error or a huge allocation later); tensors are read on demand."""

    def __init__(self, path: str):
        self.path = path
        self._fs, self._fs_path = fsspec.core.url_to_fs(path)
        size = int(self._fs.size(self._fs_path))
        if size < 8:
            raise SafetensorsError(f"{path}: {size} bytes, too short for a safetensors file (8-byte header length)")
        with self._fs.open(self._fs_path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > size - 8:
                raise SafetensorsError(f"{path}: header length {n} exceeds the file's {size} bytes (truncated, or "
                                       "not a safetensors file)")
            raw = f.read(n)
        try:
            header = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SafetensorsError(f"{path}: the header is not JSON ({e})") from e
        if not isinstance(header, dict):
            raise SafetensorsError(f"{path}: the header is a JSON {type(header).__name__}, not an object")
        header.pop("__metadata__", None)
        self._data_start = 8 + n
        for name, info in header.items():
            self._check(name, info, size - self._data_start)
        self.header = header
        self._local = isinstance(self._fs, fsspec.implementations.local.LocalFileSystem)

    def _check(self, name: str, info, data_bytes: int) -> None:
        where = f"{self.path}: tensor {name!r}"
        if not isinstance(info, dict):
            raise SafetensorsError(f"{where}: header entry is not an object")
        if info.get("dtype") not in _DTYPES:
            raise SafetensorsError(f"{where}: unsupported dtype {info.get('dtype')!r} (known: {', '.join(_DTYPES)})")
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"{where}: shape {shape!r} is not a list of non-negative ints")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise SafetensorsError(f"{where}: data_offsets {offsets!r} are not [start, end] with 0 <= start <= end")
        if offsets[1] > data_bytes:
            raise SafetensorsError(f"{where}: data_offsets end {offsets[1]} is past the file's {data_bytes} data "
                                   "bytes (truncated file?)")
        want = int(np.prod(shape, dtype=np.int64)) * _DTYPES[info["dtype"]].itemsize
        if offsets[1] - offsets[0] != want:
            raise SafetensorsError(f"{where}: {offsets[1] - offsets[0]} bytes for shape {shape} of "
                                   f"{info['dtype']} ({want} expected)")

    def keys(self):
        return self.header.keys()

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.header[name]["shape"])

    def read(self, name: str) -> np.ndarray:
        info = self.header[name]
        dtype, shape = _DTYPES[info["dtype"]], tuple(info["shape"])
        start, end = info["data_offsets"]
        if self._local:  # zero-copy view; the page cache does the streaming
            return np.memmap(self._fs_path, dtype=dtype, mode="r", offset=self._data_start + start, shape=shape)
        with self._fs.open(self._fs_path, "rb", block_size=max(end - start, 1 << 20)) as f:
            f.seek(self._data_start + start)
            buf = f.read(end - start)
        return np.frombuffer(buf, dtype=dtype).reshape(shape)


class SafetensorsCheckpoint:
    """All tensors of a checkpoint directory: one model.safetensors or an index + shards.

    `nonfinite`: what a NaN/inf in a floating tensor does when it is read: "warn" (a warning
    naming the file and tensor), "error" (SafetensorsError) or "ignore".
    """

    def __init__(self, directory: str, nonfinite: str = "warn"):
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"nonfinite={nonfinite!r}; expected one of {NONFINITE_POLICIES}")
        self.directory, self.nonfinite = directory, nonfinite
        fs, root = fsspec.core.url_to_fs(directory)
        index_path = join(directory, INDEX_FILE)
        if fs.exists(join(root, INDEX_FILE)):
            with fsspec.open(index_path, "r") as f:
                try:
                    weight_map = json.load(f)["weight_map"]
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    raise SafetensorsError(f"{index_path}: not a safetensors index (JSON with a 'weight_map'): "
                                           f"{e!r}") from e
            files = sorted(set(weight_map.values()))
        else:
            files = sorted(os.path.basename(p) for p in fs.glob(join(root, "*.safetensors")))
            if not files:
                raise FileNotFoundError(f"no *.safetensors files (or {INDEX_FILE}) in {directory}")
            weight_map = None
        self._files = {name: SafetensorsFile(join(directory, name)) for name in files}
        self._where: dict[str, SafetensorsFile] = {}
        for st in self._files.values():
            for key in st.keys():
                self._where[key] = st
        if weight_map is not None:
            missing = sorted(k for k in weight_map if k not in self._where)
            if missing:
                raise ValueError(f"{index_path} lists tensors absent from their shards: {missing[:5]}")

    def keys(self) -> set[str]:
        return set(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._where[name].shape(name)

    def read(self, name: str) -> np.ndarray:
        array = self._where[name].read(name)
        if self.nonfinite != "ignore" and array.dtype.kind in "fV" and array.size:
            bad = int(np.count_nonzero(~np.isfinite(array)))
            if bad:
                message = (f"{self._where[name].path}: tensor {name!r} has {bad} non-finite value(s) (NaN/inf) of "
                           f"{array.size}")
                if self.nonfinite == "error":
                    raise SafetensorsError(message)
                logging.warning("%s", message)
        return array


def _header_bytes(entries: list[tuple[str, np.dtype, tuple[int, ...]]], metadata: Optional[dict]) -> bytes:
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, dtype, shape in entries:
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        header[name] = {"dtype": _NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data section starts 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


def write_sharded(
    directory: str,
    entries: list[tuple[str, np.dtype, tuple[int, ...]]],
    produce: Callable[[], Iterable[tuple[str, np.ndarray]]],
    *,
    max_shard_bytes: int = 2 << 30,
    metadata: Optional[dict] = None,
) -> list[str]:
    """Writes tensors as `model-0000i-of-0000n.safetensors` + index, streaming.

    `entries` (name, dtype, shape) plans the shards up front; `produce()` then yields the tensors in
    exactly that order, one at a time, so at most one tensor is held in memory.
    """
    shards: list[list] = [[]]
    size = 0
    for e in entries:
        nbytes = int(np.prod(e[2], dtype=np.int64)) * e[1].itemsize
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(e)
        size += nbytes
    n = len(shards)
    names = [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
    fs, root = fsspec.core.url_to_fs(directory)
    fs.makedirs(root, exist_ok=True)
    tensors = iter(produce())
    weight_map, total = {}, 0
    for fname, shard in zip(names, shards):
        with fs.open(join(root, fname), "wb") as f:
            f.write(_header_bytes(shard, metadata))
            for name, dtype, shape in shard:
                got_name, arr = next(tensors)
                if got_name != name or arr.dtype != dtype or tuple(arr.shape) != tuple(shape):
                    raise RuntimeError(f"export produced {got_name} {arr.dtype}{arr.shape}, planned {name} {dtype}{shape}")
                f.write(np.ascontiguousarray(arr).tobytes())
                weight_map[name] = fname
                total += arr.nbytes
    with fs.open(join(root, INDEX_FILE), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return names
