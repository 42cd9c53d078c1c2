"""The one door to code execution: sandbox_workers, embedded on this host or through a work queue.

Every stage and trainer that runs programs (test synthesis, the proxy filter, inference
scoring, best-of-N, the RL test reward, evaluation) builds its executor from one config block,
`execution` (config_blocks.execution_config):

  backend         embedded (a sandbox pool on this host) | queue (remote pools, launch/pool)
  uri             queue: gs://bucket/prefix of the work queue
  num_workers     embedded: pool size (0: one per core)
  timeout_s       default wall limit per program (a job's own timeout_s wins)
  memory_mb       default memory limit per program (0: the sandbox's default)
  batch_timeout_s queue: how long one batch may take
  idle_timeout_s  queue: give up when no result arrives and no worker is live for this long (0: off)
  outage_s        queue: how long storage may stay unreachable (retried with backoff, logged once)
  preimport       embedded: modules the pool's zygotes import once (() : the sandbox's default set)

A stage hands over jobs {"id", "program", "tests", "timeout_s"?, "memory_mb"?} (or values-mode
jobs, docs/sandbox.md) and gets back {id: result}. Seed and benchmark reference programs run
through it too: untrusted code has one door.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from acecoder_jax import progress
from acecoder_jax.errors import ConfigError, unknown_choice

BACKENDS = ("embedded", "queue")


class Executor:
    """The embedded pool starts on first use and lives until `close()` (or the end of the `with`
    block): one pool per stage or trainer, since starting one costs more than a small batch. A pool
    that fails mid-batch is discarded and a fresh one starts on the next call."""

    def __init__(self, backend: str = "embedded", *, uri: str = "", num_workers: int | None = None,
                 timeout_s: float | None = None, memory_mb: int | None = None, batch_timeout_s: float = 3600.0,
                 idle_timeout_s: float | None = None, preimport: Sequence[str] | None = None,
                 progress: bool = False, storage_options: dict | None = None, outage_s: float | None = None):
        """`progress`: a bar over each batch's programs (drawn on a terminal only, acecoder_jax.progress)."""
        if backend not in BACKENDS:
            raise ConfigError(unknown_choice("execution backend", backend, BACKENDS))
        if backend == "queue" and not uri:
            raise ConfigError("execution.backend='queue' needs execution.uri (gs://bucket/prefix of the work queue)")
        self.backend, self.uri, self.num_workers, self.progress = backend, uri, num_workers, progress
        self.timeout_s, self.memory_mb = timeout_s, memory_mb
        self.batch_timeout_s, self.idle_timeout_s = batch_timeout_s, idle_timeout_s
        self.preimport = None if preimport is None else tuple(preimport)
        self.storage_options, self.outage_s = storage_options, outage_s
        self._pool = None
        self._client = None

    def __repr__(self) -> str:
        return f"Executor({self.backend}{' ' + self.uri if self.uri else ''})"

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _prepare(self, jobs: Iterable[dict]) -> list[dict]:
        out = []
        for job in jobs:
            job = dict(job)
            if self.timeout_s is not None:
                job.setdefault("timeout_s", self.timeout_s)
            if self.memory_mb is not None:
                job.setdefault("memory_mb", self.memory_mb)
            out.append(job)
        return out

    def results(self, jobs: Sequence[dict]) -> Iterator[dict]:
        """Each job's result as it arrives (arrival order; an executor failure raises mid-way)."""
        import sandbox_workers
        jobs = self._prepare(jobs)
        if not jobs:
            return
        if self.backend == "embedded":
            if self._pool is None:
                self._pool = sandbox_workers.SandboxPool(self.num_workers, preimport=self.preimport)
            try:
                yield from progress.bar(self._pool.run(jobs), total=len(jobs), desc="execute", unit="prog",
                                        enabled=self.progress, leave=False)
            except BaseException:
                self.close()  # a pool that failed mid-batch is not reused
                raise
            return
        if self._client is None:
            from sandbox_workers import queue

            self._client = sandbox_workers.QueueClient(self.uri, storage_options=self.storage_options,
                                                       outage_s=self.outage_s or queue.DEFAULT_OUTAGE_S)
        batch = self._client.submit(jobs)
        bar = progress.bar(total=None, desc="queue", unit="shard", enabled=self.progress, leave=False)

        def show(done: int, shards: int, live: int) -> None:
            bar.total = shards
            bar.n = done
            bar.set_postfix_str(f"{live} live worker{'s' * (live != 1)}", refresh=True)

        try:
            yield from self._client.results(batch, timeout_s=self.batch_timeout_s, idle_timeout_s=self.idle_timeout_s,
                                            on_progress=show)
        finally:
            bar.close()

    __call__ = results  # the RunJobs form the RL test reward takes (it retries what is missing)

    def run(self, jobs: Iterable[dict]) -> dict[str, dict]:
        """Execute every job; returns results keyed by job id (every id present)."""
        jobs = list(jobs)
        ids = [j["id"] for j in jobs]
        if len(set(ids)) != len(ids):
            raise ValueError("execution job ids must be unique within one call")
        by_id = {r["id"]: r for r in self.results(jobs)}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise RuntimeError(f"{self!r} returned no result for {len(missing)} jobs, e.g. {missing[:3]}")
        return by_id


def build_executor(execution, *, progress: bool = False) -> Executor:
    """The executor an `execution` config block describes (see the module docstring)."""
    e = execution
    return Executor(e.backend, uri=e.uri, num_workers=e.num_workers or None, timeout_s=e.timeout_s or None,
                    memory_mb=e.memory_mb or None, batch_timeout_s=e.batch_timeout_s,
                    idle_timeout_s=e.idle_timeout_s or None, preimport=tuple(e.preimport) or None, progress=progress,
                    outage_s=e.get("outage_s") or None)


def evaluate_values(program: str, expressions: list[str], executor: "Executor | None" = None,
                    **limits) -> tuple[list[dict] | None, str | None]:
    """(per-expression entries, None), or (None, why) when the program does not load: the
    sandbox's values mode (docs/sandbox.md), through `executor` or a temporary embedded one.
    `limits`: timeout_s, load_timeout_s, memory_mb, max_timeouts."""
    job = {"id": "values", "mode": "values", "program": program, "expressions": list(expressions),
           **{k: v for k, v in limits.items() if v is not None}}
    if executor is None:
        with Executor("embedded") as own:
            result = own.run([job])["values"]
    else:
        result = executor.run([job])["values"]
    entries = result.get("values")
    if result.get("status") in ("syntax_error", "invalid") or entries is None or (
            result.get("status") != "ok" and all(e.get("outcome") == "not_run" for e in entries)):
        return None, str(result.get("error"))
    return entries, None
