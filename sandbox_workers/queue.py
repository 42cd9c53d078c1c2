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
    workers/<worker>.json                  worker heartbeat {"beat", "time", "host", "period_s"}

Staleness is judged on the observer's own clock (content unchanged for the TTL), so hosts need
no synchronized clocks: a worker is live while its heartbeat object keeps changing within
LIVE_BEATS of its own heartbeat period, as the observer sees it.

Storage outages are survived: every storage call goes through `Storage`, which retries transient
errors (connection refused or reset, timeouts, 429/5xx) with capped exponential backoff for up to
`outage_s` (default 10 minutes), logs each outage once when it starts and once when it ends, and
then raises StorageUnavailable (a QueueTimeout) with the last error chained. Creates stay
exactly-once across a retried call: an object that already holds exactly our bytes was ours.
(gcsfs retries a failed HTTP call itself for about a minute first, so on gs:// an outage shorter
than that never reaches this layer, and giving up takes at least that long.)
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Callable, Iterable, Iterator, TypeVar

import fsspec

DEFAULT_SHARD_SIZE = 32
DEFAULT_LEASE_TTL_S = 60.0
DEFAULT_HEARTBEAT_S = 10.0
DEFAULT_OUTAGE_S = 600.0  # how long storage may be unreachable before a worker or consumer gives up
LIVE_BEATS = 3  # a worker is live while its heartbeat changed within this many of its periods
POLL_S = 0.5
BACKOFF_S = (0.5, 10.0)  # first and largest wait between retries of a failing storage call

log = logging.getLogger("sandbox_workers.queue")
T = TypeVar("T")


class QueueTimeout(TimeoutError):
    """Results did not arrive in time; the message names the queue and what is missing."""


class NoWorkerError(QueueTimeout):
    """No result arrived and no live worker was seen on the queue for the idle timeout."""


class StorageUnavailable(QueueTimeout):
    """The queue's storage stayed unreachable for longer than the outage budget."""


# Errors that mean "the object is not in the state asked for", not "storage is down".
_ANSWERS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


def is_transient(error: BaseException) -> bool:
    """Whether a storage error is worth retrying (connection, timeout, throttling, server error)."""
    if isinstance(error, _ANSWERS):
        return False
    if isinstance(error, (ConnectionError, TimeoutError, OSError)):
        return True
    code = getattr(error, "code", None) or getattr(error, "status", None)
    if isinstance(code, int):
        return code == 429 or code >= 500
    module = type(error).__module__ or ""
    return module.startswith(("aiohttp", "requests", "urllib3", "google.auth", "google.api_core"))


class Storage:
    """The queue's storage calls, each retried through outages (module docstring)."""

    def __init__(self, fs, uri: str, *, outage_s: float = DEFAULT_OUTAGE_S):
        self.fs, self.uri, self.outage_s = fs, uri, outage_s
        self._down_since: float | None = None  # shared by the threads using this storage: one log per outage
        self._lock = threading.Lock()

    def call(self, what: str, fn: Callable[[], T]) -> T:
        delay, first_failure = BACKOFF_S[0], None
        while True:
            try:
                value = fn()
            except Exception as e:  # noqa: BLE001 - sorted below: answers and bugs pass through
                if not is_transient(e):
                    raise
                now = time.monotonic()
                first_failure = first_failure or now
                with self._lock:
                    starts, self._down_since = self._down_since is None, self._down_since or now
                if starts:
                    log.warning("storage of queue %s unreachable (%s: %s); retrying for up to %.0fs",
                                self.uri, what, e, self.outage_s)
                if now - first_failure >= self.outage_s:
                    raise StorageUnavailable(f"storage of queue {self.uri} unreachable for {now - first_failure:.0f}s "
                                             f"({what}): {type(e).__name__}: {e}") from e
                time.sleep(min(delay, max(0.0, self.outage_s - (now - first_failure))))
                delay = min(delay * 2, BACKOFF_S[1])
                continue
            if self._down_since is not None:
                with self._lock:
                    since, self._down_since = self._down_since, None
                if since is not None:
                    log.warning("storage of queue %s reachable again after %.1fs", self.uri, time.monotonic() - since)
            return value

    def listdir(self, path: str) -> list[str]:
        return self.call(f"list {path}", lambda: _listdir(self.fs, path))

    def read(self, path: str) -> bytes | None:
        return self.call(f"read {path}", lambda: _read(self.fs, path))

    def write(self, path: str, data: bytes) -> None:
        self.call(f"write {path}", lambda: write(self.fs, path, data))

    def create_only(self, path: str, data: bytes) -> bool:
        """create_only through outages: a create whose reply was lost and that is retried finds
        the object present; if it holds exactly `data`, the create was ours."""
        attempts = [0]

        def attempt() -> bool:
            attempts[0] += 1
            created = create_only(self.fs, path, data)
            return created or (attempts[0] > 1 and _read(self.fs, path) == data)

        return self.call(f"create {path}", attempt)


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

    def __init__(self, uri: str, *, storage_options: dict | None = None, outage_s: float = DEFAULT_OUTAGE_S):
        self.uri = uri
        self.fs, self.root = open_queue(uri, storage_options)
        self.storage = Storage(self.fs, uri, outage_s=outage_s)
        self._beats = HeartbeatWatch()

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
            if not self.storage.create_only(path, b"".join(buf)):
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
        self.storage.create_only(f"{base}/manifest.json", manifest)
        return batch_id

    def manifest(self, batch_id: str) -> dict:
        data = self.storage.read(f"{self._batch(batch_id)}/manifest.json")
        if data is None:
            raise KeyError(f"batch {batch_id!r} not found in queue {self.uri}")
        return json.loads(data)

    def live_workers(self) -> list[str]:
        """Workers whose heartbeat object changed within LIVE_BEATS of their heartbeat period, on
        this process's clock (a first sighting counts only if the worker's own timestamp is that
        fresh): a worker killed just before a submit stops being live within that window."""
        return self._beats.live(self.storage, f"{self.root}/workers")

    def results(self, batch_id: str, *, timeout_s: float, idle_timeout_s: float | None = None,
                on_progress: Callable[[int, int, int], None] | None = None) -> Iterator[dict]:
        """Yield every result of the batch once, as shards land.

        Raises NoWorkerError when for `idle_timeout_s` no result arrives and no worker is live,
        QueueTimeout when the batch is not complete after `timeout_s`, StorageUnavailable when
        storage stays down past the outage budget. `on_progress(shards done, shards, live workers)`
        is called as shards land and every few seconds while waiting.
        """
        total = self.manifest(batch_id)["shards"]
        base = self._batch(batch_id)
        seen: set[str] = set()
        check_every = min(2.0, idle_timeout_s / 4) if idle_timeout_s else 2.0
        start = last_alive = time.monotonic()
        last_check = start - check_every
        live: list[str] = []
        while len(seen) < total:
            fresh = [n for n in self.storage.listdir(f"{base}/results") if n not in seen]
            for name in fresh:
                results = parse_results(self.storage.read(f"{base}/results/{name}"))
                if results is None:
                    continue
                seen.add(name)
                last_alive = time.monotonic()
                yield from results
                if on_progress:
                    on_progress(len(seen), total, len(live))
            if len(seen) >= total:
                return
            now = time.monotonic()
            if now - last_check >= check_every:  # heartbeats change every few seconds, not every poll
                live, last_check = self.live_workers(), now
                if live:
                    last_alive = now
                if on_progress:
                    on_progress(len(seen), total, len(live))
            missing, waited, idle = total - len(seen), now - start, now - last_alive
            if (idle_timeout_s is not None and idle >= idle_timeout_s) or (waited >= timeout_s and not live):
                raise NoWorkerError(
                    f"no worker is serving queue {self.uri}: {missing} of {total} shards of batch {batch_id} "
                    f"missing, no result and no live worker for {idle:.0f}s; start "
                    f"`python -m sandbox_workers.worker --queue {self.uri}`")
            if waited >= timeout_s:
                raise QueueTimeout(
                    f"queue {self.uri}: {missing} of {total} shards of batch {batch_id} missing after "
                    f"{waited:.1f}s; live workers: {live or 'none'}")
            time.sleep(POLL_S)


class HeartbeatWatch:
    """When each worker's heartbeat last changed, on the observer's clock."""

    def __init__(self):
        self._seen: dict[str, tuple[bytes, float]] = {}

    def live(self, storage: Storage, workers_dir: str) -> list[str]:
        now, wall, alive = time.monotonic(), time.time(), []
        for name in storage.listdir(workers_dir):
            data = storage.read(f"{workers_dir}/{name}")
            try:
                beat = json.loads(data) if data else None
                window = LIVE_BEATS * float(beat.get("period_s", DEFAULT_HEARTBEAT_S))
            except (ValueError, TypeError, AttributeError):
                continue
            previous = self._seen.get(name)
            if previous is None:  # first sighting: trust the worker's own clock, once
                changed = now if wall - float(beat.get("time", 0)) <= window else now - 2 * window
            elif previous[0] != data:
                changed = now
            else:
                changed = previous[1]
            self._seen[name] = (data, changed)
            if now - changed <= window:
                alive.append(name.removesuffix(".json"))
        return alive


def worker_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
