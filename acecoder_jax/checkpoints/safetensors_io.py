"""Streaming safetensors reader/writer over fsspec (local paths and gs:// alike).

The format is an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
data_offsets}}, then raw little-endian bytes. Reading it ourselves lets one code path do ranged
reads from GCS tensor by tensor, and writing it ourselves lets export stream tensors into a file
without holding a whole shard in memory.
"""

from __future__ import annotations

import json
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


def join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


class SafetensorsFile:
    """Header of one .safetensors file; tensors are read on demand."""

    def __init__(self, path: str):
        self.path = path
        self._fs, self._fs_path = fsspec.core.url_to_fs(path)
        with self._fs.open(self._fs_path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        self.header = header
        self._data_start = 8 + n
        self._local = isinstance(self._fs, fsspec.implementations.local.LocalFileSystem)

    def keys(self):
        return self.header.keys()

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.header[name]["shape"])

    def read(self, name: str) -> np.ndarray:
        info = self.header[name]
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{self.path}: tensor {name!r} has unsupported dtype {info['dtype']}")
        dtype, shape = _DTYPES[info["dtype"]], tuple(info["shape"])
        start, end = info["data_offsets"]
        if self._local:  # zero-copy view; the page cache does the streaming
            return np.memmap(self._fs_path, dtype=dtype, mode="r", offset=self._data_start + start, shape=shape)
        with self._fs.open(self._fs_path, "rb", block_size=max(end - start, 1 << 20)) as f:
            f.seek(self._data_start + start)
            buf = f.read(end - start)
        return np.frombuffer(buf, dtype=dtype).reshape(shape)


class SafetensorsCheckpoint:
    """All tensors of a checkpoint directory: one model.safetensors or an index + shards."""

    def __init__(self, directory: str):
        self.directory = directory
        fs, root = fsspec.core.url_to_fs(directory)
        index_path = join(directory, INDEX_FILE)
        if fs.exists(join(root, INDEX_FILE)):
            with fsspec.open(index_path, "r") as f:
                weight_map = json.load(f)["weight_map"]
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
        return self._where[name].read(name)


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
