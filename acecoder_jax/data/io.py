"""Record io through fsspec: jsonl / jsonl.gz / parquet on a local path or gs://, written atomically.

Every stage of the project reads and writes records through these helpers, so a local directory
and a bucket prefix behave the same. Writes are atomic: on local disk a temp file is renamed into
place; on object stores one upload is already all-or-nothing, so the object is written directly.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import uuid
from typing import Any, Iterable, Iterator

import fsspec

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)


class RecordReadError(ValueError):
    """A record in a file could not be decoded; carries the path and 1-based line number."""

    def __init__(self, path: str, line: int, kind: str, reason: str, raw: str = ""):
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.kind, self.reason, self.raw = path, line, kind, reason, raw


@contextlib.contextmanager
def naming(path: str, action: str):
    """Storage errors inside say `action path` as the user wrote it (a store's own message names
    an upload URL or a bucket-relative key), with a hint when a bucket may be missing."""
    try:
        yield
    except (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError) as e:
        if path in str(e):
            raise
        hint = ""
        if "://" in path and not is_local(path):
            scheme, rest = path.split("://", 1)
            hint = f"; does the bucket {scheme}://{rest.split('/', 1)[0]} exist, and may you use it?"
        what = "not found" if isinstance(e, FileNotFoundError) else type(e).__name__
        raise type(e)(f"cannot {action} {path}: {what}{hint} ({e})") from e


def fs_and_path(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """Filesystem object and protocol-stripped path for a local path or URL."""
    return fsspec.core.url_to_fs(path)


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def join(base: str, *parts: str) -> str:
    """Path join that keeps URL schemes intact (os.path.join would on Windows, posixpath is enough)."""
    return posixpath.join(base, *parts) if not is_local(base) else os.path.join(base, *parts)


def exists(path: str) -> bool:
    fs, p = fs_and_path(path)
    return fs.exists(p)


def makedirs(path: str) -> None:
    fs, p = fs_and_path(path)
    if is_local(path):
        with naming(path, "create the directory"):
            fs.makedirs(p, exist_ok=True)
    # object stores have no directories; nothing to do


def glob(pattern: str) -> list[str]:
    """Sorted matches, with the URL scheme put back for remote paths; listing cache bypassed."""
    fs, p = fs_and_path(pattern)
    fs.invalidate_cache()
    with naming(pattern, "list"):
        matches = sorted(fs.glob(p))
    if is_local(pattern):
        return matches
    protocol = pattern.split("://", 1)[0]
    return [f"{protocol}://{m}" for m in matches]


def format_of(path: str) -> str:
    """'jsonl' or 'parquet' from the file name; anything else is an error naming the path."""
    lower = path.lower()
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise ValueError(f"{path}: unknown record format (expected one of {JSONL_SUFFIXES + PARQUET_SUFFIXES})")


def count_lines(path: str) -> int:
    """Non-blank lines of a local uncompressed text file (a cheap record count for progress bars)."""
    with open(path[len("file://"):] if path.startswith("file://") else path, "rb") as f:
        return sum(1 for line in f if line.strip())


def file_identity(path: str) -> dict:
    """What a file's content is, cheaply: local files by size and SHA-256 of the bytes (a copy or a
    touch keeps it, any edit changes it); object-store files by size and the store's own version
    (GCS generation / md5, else etag / mtime), without downloading them."""
    fs, p = fs_and_path(path)
    if is_local(path):
        digest = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
        return {"path": path, "size": os.path.getsize(p), "sha256": digest.hexdigest()}
    info = fs.info(p)
    version = next((str(info[k]) for k in ("generation", "md5Hash", "ETag", "etag", "mtime", "updated")
                    if info.get(k) is not None), None)
    return {"path": path, "size": int(info.get("size") or 0), "version": version}


def read_bytes(path: str) -> bytes:
    with naming(path, "read"), fsspec.open(path, "rb", compression="infer") as f:
        return f.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    """Atomic write: temp file + rename locally, single upload on object stores."""
    with naming(path, "write"):
        if is_local(path):
            _atomic_local_write(path, lambda out: out.write(data))
        else:
            fs, p = fs_and_path(path)
            fs.pipe_file(p, data)


def _atomic_local_write(path: str, fill) -> None:
    """fill(file) into a temp file beside `path`, fsync, then rename it into place."""
    p = fs_and_path(path)[1]
    parent = os.path.dirname(os.path.abspath(p))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(p)}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str) -> Any:
    return json.loads(read_text(path))


def iter_jsonl_lines(path: str) -> Iterator[tuple[int, dict | RecordReadError]]:
    """(line number, record) per non-blank line, streamed (the file is never held whole);
    undecodable lines yield a RecordReadError instead of raising, so stages can route them to a
    rejects file and go on."""
    with naming(path, "read"), fsspec.open(path, "rb", compression="infer") as f:
        yield from _jsonl_records(path, f)


def _jsonl_records(path: str, lines: Iterable[bytes]) -> Iterator[tuple[int, dict | RecordReadError]]:
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield lineno, RecordReadError(path, lineno, "not_utf8", f"not UTF-8 ({e.reason} at byte {e.start})",
                                          raw.decode("utf-8", "replace")[:200])
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as e:
            yield lineno, RecordReadError(path, lineno, "malformed_json", f"malformed JSON ({e.msg})", text[:200])
            continue
        if not isinstance(rec, dict):
            yield lineno, RecordReadError(path, lineno, "not_an_object", f"expected a JSON object, got {type(rec).__name__}",
                                          text[:200])
            continue
        yield lineno, rec


def iter_jsonl(path: str) -> Iterator[tuple[int, dict]]:
    """(line number, record) per non-blank line; the first bad line raises RecordReadError naming
    the file and line (iter_jsonl_lines tolerates them instead)."""
    for lineno, rec in iter_jsonl_lines(path):
        if isinstance(rec, RecordReadError):
            raise rec
        yield lineno, rec


def read_jsonl(path: str) -> list[dict]:
    """All records of a jsonl(.gz) file; the first bad line raises RecordReadError."""
    return [rec for _, rec in iter_jsonl(path)]


def dumps_jsonl(records: Iterable[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records)


def write_jsonl(path: str, records: Iterable[dict]) -> int:
    """Atomically write records; returns how many. `.gz` paths are gzip-compressed."""
    records = list(records)
    data = dumps_jsonl(records)
    if path.endswith(".gz"):
        import gzip
        data = gzip.compress(data, mtime=0)
    write_bytes(path, data)
    return len(records)


def read_parquet(path: str) -> list[dict]:
    from acecoder_jax.extras import need

    pq = need("pyarrow.parquet", f"reading {path}")
    with fsspec.open(path, "rb") as f:
        table = pq.read_table(f)
    return table.to_pylist()


def write_parquet(path: str, records: Iterable[dict], schema=None) -> int:
    import io as _io

    from acecoder_jax.extras import need

    pa, pq = need("pyarrow", f"writing {path}"), need("pyarrow.parquet", f"writing {path}")
    records = list(records)
    table = pa.Table.from_pylist(records, schema=schema)
    buf = _io.BytesIO()
    pq.write_table(table, buf)
    write_bytes(path, buf.getvalue())
    return len(records)


def read_records(path: str) -> list[dict]:
    """jsonl(.gz) or parquet by extension."""
    return read_parquet(path) if format_of(path) == "parquet" else read_jsonl(path)


def write_records(path: str, records: Iterable[dict], schema=None) -> int:
    if format_of(path) == "parquet":
        return write_parquet(path, records, schema=schema)
    return write_jsonl(path, records)


def concat_files(sources: list[str], dest: str) -> None:
    """Byte-concatenate files into dest atomically (streams; fine for multi-GB outputs)."""
    def fill(out) -> None:
        for src in sources:
            with fsspec.open(src, "rb") as f:
                while chunk := f.read(1 << 22):
                    out.write(chunk)

    with naming(dest, "write"):
        if is_local(dest):
            _atomic_local_write(dest, fill)
        else:
            fs, p = fs_and_path(dest)
            with fs.open(p, "wb") as out:  # one object upload: visible only when complete
                fill(out)


def iter_parquet(path: str, batch_rows: int = 1024) -> Iterator[tuple[int, dict]]:
    """(row number, record) of a parquet file, streamed a row batch at a time."""
    from acecoder_jax.extras import need

    pq = need("pyarrow.parquet", f"reading {path}")
    with naming(path, "read"), fsspec.open(path, "rb") as f:
        row = 0
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows):
            for rec in batch.to_pylist():
                row += 1
                yield row, rec


def iter_records(path: str) -> Iterator[tuple[int, dict | RecordReadError]]:
    """(row number, record or RecordReadError) for jsonl(.gz) or parquet, streamed."""
    if format_of(path) == "parquet":
        yield from iter_parquet(path)
    else:
        yield from iter_jsonl_lines(path)


def expand_inputs(spec: str) -> list[str]:
    """Comma-separated paths or globs -> sorted concrete files; an empty match is an error."""
    files: list[str] = []
    for part in [s.strip() for s in spec.split(",") if s.strip()]:
        if any(ch in part for ch in "*?["):
            found = glob(part)
            if not found:
                raise FileNotFoundError(f"input glob matched nothing: {part}")
            files.extend(found)
        else:
            if not exists(part):
                raise FileNotFoundError(f"input not found: {part}")
            files.append(part)
    if not files:
        raise ValueError(f"no input files in {spec!r}")
    return files
