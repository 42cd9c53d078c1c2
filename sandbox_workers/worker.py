"""Queue worker: claim job shards from a queue, run them on the embedded pool, write results.

    python -m sandbox_workers.worker --queue gs://bucket/queue [--workers N]

A shard is claimed by creating its lease object create-only; the owner rewrites it every
heartbeat; a lease whose content has not changed for the TTL (on this worker's clock) is taken
over by creating the next attempt's lease. Results are created once per shard, so a slow or
resurrected owner's late duplicate is discarded.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import signal
import sys
import threading
import time

from sandbox_workers import jobs
from sandbox_workers import queue as q
from sandbox_workers.pool import IsolationError, SandboxPool
from sandbox_workers.run import parse_module_list

log = logging.getLogger("sandbox_workers.worker")


class LeaseWatch:
    """Remembers when each lease's content last changed, on this process's clock."""

    def __init__(self):
        self._seen: dict[str, tuple[bytes, float]] = {}

    def stale(self, path: str, content: bytes | None, ttl_s: float) -> bool:
        now = time.monotonic()
        previous = self._seen.get(path)
        if previous is None or previous[0] != content:
            self._seen[path] = (content, now)
            return False
        return now - previous[1] >= ttl_s


class Worker:
    def __init__(self, uri: str, *, num_workers: int | None = None, lease_ttl_s: float = q.DEFAULT_LEASE_TTL_S,
                 heartbeat_s: float = q.DEFAULT_HEARTBEAT_S, poll_s: float = q.POLL_S,
                 storage_options: dict | None = None, preimport: list[str] | None = None,
                 packages: list[str] | None = None, allow_weaker_isolation: bool | None = None,
                 outage_s: float = q.DEFAULT_OUTAGE_S):
        if not heartbeat_s * 2 <= lease_ttl_s:
            raise ValueError(f"heartbeat ({heartbeat_s}s) must be at most half the lease TTL ({lease_ttl_s}s)")
        self.uri = uri
        self.fs, self.root = q.open_queue(uri, storage_options)
        self.storage = q.Storage(self.fs, uri, outage_s=outage_s)
        self.identity = q.worker_identity()
        self.lease_ttl_s, self.heartbeat_s, self.poll_s = lease_ttl_s, heartbeat_s, poll_s
        self.pool = SandboxPool(num_workers, preimport=preimport, packages=packages,
                                allow_weaker_isolation=allow_weaker_isolation)
        self.watch = LeaseWatch()
        self.finished_batches: set[str] = set()
        self.stop = threading.Event()
        self._beats = 0
        self.shards_done = 0

    # -- heartbeats ----------------------------------------------------------------------------
    def _beat_worker(self) -> None:
        self._beats += 1
        body = json.dumps({"beat": self._beats, "time": time.time(), "host": self.identity,
                           "period_s": self.heartbeat_s}).encode()
        self.storage.write(f"{self.root}/workers/{self.identity}.json", body)

    def _lease_body(self, beat: int) -> bytes:
        return json.dumps({"owner": self.identity, "beat": beat}).encode()

    def _claim(self, leases_dir: str, shard: str, attempts: list[int]) -> str | None:
        """Create the next lease attempt if the shard is free or its lease expired."""
        if attempts:
            latest = max(attempts)
            path = f"{leases_dir}/{shard}.{latest}"
            if not self.watch.stale(path, self.storage.read(path), self.lease_ttl_s):
                return None
            attempt = latest + 1
        else:
            attempt = 0
        path = f"{leases_dir}/{shard}.{attempt}"
        if self.storage.create_only(path, self._lease_body(0)):
            return path
        # A create whose response was lost retries into "exists": the owner token decides.
        data = self.storage.read(path)
        try:
            return path if data and json.loads(data).get("owner") == self.identity else None
        except ValueError:
            return None

    def _run_shard(self, base: str, shard: str, lease: str) -> None:
        data = self.storage.read(f"{base}/jobs/{shard}.jsonl") or b""
        jobs = []
        for n, line in enumerate(data.splitlines()):
            try:
                jobs.append(json.loads(line))
            except ValueError as e:
                jobs.append({"id": None, "_bad_line": f"job line {n}: {e}"})
        done = threading.Event()

        def renew():
            beat = 0
            while not done.wait(self.heartbeat_s):
                beat += 1
                try:
                    self.storage.write(lease, self._lease_body(beat))
                    self._beat_worker()
                except Exception as e:  # noqa: BLE001 - keep running; the lease may lapse
                    log.warning("heartbeat failed for %s: %s", lease, e)

        thread = threading.Thread(target=renew, daemon=True)
        thread.start()
        try:
            results = list(self.pool.run(jobs))
        finally:
            done.set()
            thread.join()
        body = b"".join(json.dumps(r).encode() + b"\n" for r in results)
        body += json.dumps({"end": len(results)}).encode() + b"\n"
        if self.storage.create_only(f"{base}/results/{shard}.jsonl", body):
            self.shards_done += 1
            log.info("shard %s/%s: %d results", base.rsplit("/", 1)[-1], shard, len(results))
        else:
            log.info("shard %s already has results; discarded this duplicate", shard)

    def poll_once(self) -> bool:
        """Claim and run at most one shard; return whether one ran."""
        batches = [b for b in self.storage.listdir(f"{self.root}/batches") if b not in self.finished_batches]
        random.shuffle(batches)
        for batch in batches:
            base = f"{self.root}/batches/{batch}"
            manifest = self.storage.read(f"{base}/manifest.json")
            if manifest is None:
                continue
            total = json.loads(manifest)["shards"]
            done = {n.removesuffix(".jsonl") for n in self.storage.listdir(f"{base}/results")}
            if len(done) >= total:
                self.finished_batches.add(batch)
                continue
            attempts: dict[str, list[int]] = {}
            for name in self.storage.listdir(f"{base}/leases"):
                shard, _, k = name.rpartition(".")
                if k.isdigit():
                    attempts.setdefault(shard, []).append(int(k))
            todo = [f"{i:06d}" for i in range(total) if f"{i:06d}" not in done]
            random.shuffle(todo)
            for shard in todo:
                lease = self._claim(f"{base}/leases", shard, attempts.get(shard, []))
                if lease:
                    self._run_shard(base, shard, lease)
                    return True
        return False

    def serve(self, exit_when_idle_s: float | None = None) -> None:
        idle_since = time.monotonic()
        last_beat = 0.0
        while not self.stop.is_set():
            if time.monotonic() - last_beat >= self.heartbeat_s:
                self._beat_worker()
                last_beat = time.monotonic()
            if self.poll_once():
                idle_since = time.monotonic()
                continue
            if exit_when_idle_s is not None and time.monotonic() - idle_since >= exit_when_idle_s:
                return
            self.stop.wait(self.poll_s)

    def close(self) -> None:
        self.pool.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox_workers.worker", description=__doc__,
                                     epilog=jobs.FORMAT_HELP, formatter_class=jobs.HelpFormatter)
    parser.add_argument("--queue", required=True, help="queue URI: local path, gs://bucket/prefix, memory://")
    parser.add_argument("--workers", type=int, default=None, help="sandbox slots (default: one per core)")
    parser.add_argument("--lease-ttl", type=float, default=q.DEFAULT_LEASE_TTL_S,
                        help="seconds a shard's lease may go unchanged before another worker takes it over")
    parser.add_argument("--heartbeat", type=float, default=q.DEFAULT_HEARTBEAT_S,
                        help="seconds between lease rewrites (at most half the lease TTL)")
    parser.add_argument("--poll", type=float, default=q.POLL_S, help="seconds between queue listings when idle")
    parser.add_argument("--storage-options", default="{}", help="JSON dict passed to fsspec")
    parser.add_argument("--outage", type=float, default=q.DEFAULT_OUTAGE_S,
                        help="seconds storage may stay unreachable (retried with backoff, logged once) before "
                             "the worker exits with status 1")
    parser.add_argument("--preimport", default=None, type=parse_module_list,
                        help="comma-separated modules each zygote imports before forking programs "
                             "(default: zygote.DEFAULT_PREIMPORT)")
    parser.add_argument("--packages", default=None, type=parse_module_list,
                        help="comma-separated distributions programs may import "
                             "(default: rootfs.DEFAULT_PACKAGES)")
    parser.add_argument("--allow-weaker-isolation", action="store_true",
                        help="serve even where this host cannot give full isolation (logged)")
    parser.add_argument("--exit-when-idle", type=float, default=None, help="exit after this many idle seconds (default: serve until SIGTERM)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        options = json.loads(args.storage_options)
        if not isinstance(options, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        parser.error(f"--storage-options must be a JSON object: {e}")
    try:
        worker = Worker(args.queue, num_workers=args.workers, lease_ttl_s=args.lease_ttl,
                        heartbeat_s=args.heartbeat, poll_s=args.poll, storage_options=options,
                        preimport=args.preimport, packages=args.packages,
                        allow_weaker_isolation=args.allow_weaker_isolation or None, outage_s=args.outage)
    except IsolationError as e:
        log.error("%s", e)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    log.info("worker %s serving %s with %d slots; isolation %s", worker.identity, args.queue,
             worker.pool.num_workers, worker.pool.isolation)
    try:
        worker.serve(args.exit_when_idle)
    except KeyboardInterrupt:
        pass
    except q.StorageUnavailable as e:
        log.error("%s; giving up (--outage)", e)
        return 1
    finally:
        worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
