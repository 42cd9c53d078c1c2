"""A work queue over object storage (fsspec: local path, gs://, memory://) built only from
create-only writes, so it needs no compare-and-set.

Layout under the queue URI:

    batches/<batch>/manifest.json          {"shards": n, "jobs": m}   written after all shards
    batches/<batch>/jobs/<shard>.jsonl     job lines
    batches/<batch>/leases/<shard>.<k>     attempt k's lease: {"owner", "beat"}; rewritten by
                                           its owner as a heartbeat; attempt k+1 may be created
                                           once attempt k's content stops changing for the TTL
    batches/<batch>/results/<shard>.jsonl  result lines + {"end": count}, created once, so a
                                           late duplicate from an expired attempt is discarded
    workers/<worker>.json                  worker heartbeat {"beat", "time", "host"}

Staleness is judged on the observer's own clock (content unchanged for the TTL), so hosts need
no synchronized clocks.
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from typing import Iterable, Iterator

import fsspec

DEFAULT_SHARD_SIZE = 32
DEFAULT_LEASE_TTL_S = 60.0
DEFAULT_HEARTBEAT_S = 10.0
POLL_S = 0.5


class QueueTimeout(TimeoutError):
    """Results did not arrive in time; the message names the queue and what is missing."""


class NoWorkerError(QueueTimeout):
    """No worker heartbeat was seen on the queue while waiting."""


def open_queue(uri: str, storage_options: dict | None = None):
    """(filesystem, root path) for a queue URI."""
    if not isinstance(uri, str) or not uri:
        raise ValueError(f"queue URI must be a non-empty string, got {uri!r}")
    fs, root = fsspec.core.url_to_fs(uri, **(storage_options or {}))
    return fs, root.rstrip("/")


def _listdir(fs, path: str) -> list[str]:
    """Names under `path`, bypassing listing caches; [] when it does not exist."""
    try:
        fs.invalidate_cache(path)
        entries = fs.ls(path, detail=False, refresh=True) if _takes_refresh(fs) else fs.ls(path, detail=False)
    except FileNotFoundError:
        return []
    return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)


def _takes_refresh(fs) -> bool:
    return "gcs" in type(fs).__name__.lower()


def _read(fs, path: str) -> bytes | None:
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        return None


def _ensure_parent(fs, path: str) -> None:
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)


def write(fs, path: str, data: bytes) -> None:
    """Overwrite `path` (heartbeats: only the object's owner ever rewrites it)."""
    _ensure_parent(fs, path)
    fs.pipe_file(path, data)


def create_only(fs, path: str, data: bytes) -> bool:
    """Create `path` with `data` unless it exists (GCS ifGenerationMatch=0, O_EXCL locally)."""
    _ensure_parent(fs, path)
    try:
        fs.pipe_file(path, data, mode="create")
        return True
    except FileExistsError:
        return False


def parse_results(data: bytes | None) -> list[dict] | None:
    """Results of a complete result object, or None while it is absent or still being written."""
    if not data:
        return None
    lines = data.decode("utf-8").splitlines()
    try:
        end = json.loads(lines[-1])
    except ValueError:
        return None
    if not isinstance(end, dict) or end.get("end") != len(lines) - 1:
        return None
    return [json.loads(line) for line in lines[:-1]]


class QueueClient:
    """Training-side client: submit jobs as shards, stream results as they land."""

    def __init__(self, uri: str, *, storage_options: dict | None = None):
        self.uri = uri
        self.fs, self.root = open_queue(uri, storage_options)

    def _batch(self, batch_id: str) -> str:
        if not batch_id or "/" in batch_id:
            raise ValueError(f"bad batch id {batch_id!r}")
        return f"{self.root}/batches/{batch_id}"

    def submit(self, jobs: Iterable[dict], *, shard_size: int = DEFAULT_SHARD_SIZE) -> str:
        """Write jobs as shards of `shard_size` lines; return the new batch id."""
        if not isinstance(shard_size, int) or shard_size < 1:
            raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
        batch_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:12]
        base = self._batch(batch_id)
        shard, shards, count = [], 0, 0

        def flush(buf):
            nonlocal shards
            path = f"{base}/jobs/{shards:06d}.jsonl"
            if not create_only(self.fs, path, b"".join(buf)):
                raise FileExistsError(f"job shard {path} already exists in queue {self.uri}")
            shards += 1

        for i, job in enumerate(jobs):
            try:
                shard.append(json.dumps(job, ensure_ascii=True).encode() + b"\n")
            except (TypeError, ValueError) as e:
                raise ValueError(f"job {i} cannot be serialized to JSON: {e}") from None
            count += 1
            if len(shard) == shard_size:
                flush(shard)
                shard = []
        if shard:
            flush(shard)
        manifest = json.dumps({"shards": shards, "jobs": count, "shard_size": shard_size}).encode()
        create_only(self.fs, f"{base}/manifest.json", manifest)
        return batch_id

    def manifest(self, batch_id: str) -> dict:
        data = _read(self.fs, f"{self._batch(batch_id)}/manifest.json")
        if data is None:
            raise KeyError(f"batch {batch_id!r} not found in queue {self.uri}")
        return json.loads(data)

    def live_workers(self, within_s: float) -> list[str]:
        """Workers whose heartbeat object was written within `within_s` (by its own clock)."""
        now, alive = time.time(), []
        for name in _listdir(self.fs, f"{self.root}/workers"):
            data = _read(self.fs, f"{self.root}/workers/{name}")
            try:
                beat = json.loads(data) if data else None
            except ValueError:
                continue
            if beat and now - float(beat.get("time", 0)) <= within_s:
                alive.append(name.removesuffix(".json"))
        return alive

    def results(self, batch_id: str, *, timeout_s: float,
                idle_timeout_s: float | None = None) -> Iterator[dict]:
        """Yield every result of the batch once, as shards land.

        Raises NoWorkerError when nothing arrives and no worker heartbeat is seen within
        min(timeout_s, idle_timeout_s), QueueTimeout when results stop short of the deadline.
        """
        total = self.manifest(batch_id)["shards"]
        base = self._batch(batch_id)
        seen: set[str] = set()
        start = last_progress = time.monotonic()
        while len(seen) < total:
            fresh = [n for n in _listdir(self.fs, f"{base}/results") if n not in seen]
            for name in fresh:
                results = parse_results(_read(self.fs, f"{base}/results/{name}"))
                if results is None:
                    continue
                seen.add(name)
                last_progress = time.monotonic()
                yield from results
            if len(seen) >= total:
                return
            now = time.monotonic()
            idle = now - last_progress
            waited = now - start
            if waited >= timeout_s or (idle_timeout_s is not None and idle >= idle_timeout_s):
                missing = total - len(seen)
                workers = self.live_workers(within_s=max(idle, 3 * DEFAULT_HEARTBEAT_S))
                if not workers:
                    raise NoWorkerError(
                        f"no worker is serving queue {self.uri}: {missing} of {total} shards of batch "
                        f"{batch_id} missing after {waited:.1f}s and no worker heartbeat seen; start "
                        f"`python -m sandbox_workers.worker --queue {self.uri}`")
                raise QueueTimeout(
                    f"queue {self.uri}: {missing} of {total} shards of batch {batch_id} missing after "
                    f"{waited:.1f}s (idle {idle:.1f}s); live workers: {workers}")
            time.sleep(POLL_S)


def worker_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
