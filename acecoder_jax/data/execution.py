"""The pipeline's one door to code execution: sandbox_workers, embedded or through a work queue.

`executor` config: "embedded" runs the sandbox pool on this host; anything else is a queue URI
(e.g. gs://bucket/queue) served by remote worker pools. Either way a stage hands over jobs
{"id", "program", "tests", "timeout_s"?, "memory_mb"?} (or values-mode jobs, see
docs/sandbox.md) and gets back {id: result}. Seed and benchmark reference programs run through
it too: untrusted code has one door.
"""
from __future__ import annotations

from typing import Iterable

from acecoder_jax import progress


class Executor:
    """The embedded pool starts on first use and is kept across `run` calls (starting one costs
    more than a small batch); `close()` (or the context manager) stops it."""

    def __init__(self, spec: str = "embedded", num_workers: int | None = None, timeout_s: float | None = None,
                 memory_mb: int | None = None, progress: bool = False, queue_timeout_s: float = 3600.0):
        """`progress`: a bar over each batch's programs (drawn on a terminal only, acecoder_jax.progress)."""
        if not spec:
            raise ValueError("executor spec must be 'embedded' or a queue URI")
        self.spec, self.num_workers, self.progress = spec, num_workers, progress
        self.timeout_s, self.memory_mb, self.queue_timeout_s = timeout_s, memory_mb, queue_timeout_s
        self._pool = None

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

    def run(self, jobs: Iterable[dict]) -> dict[str, dict]:
        """Execute every job; returns results keyed by job id (every id present)."""
        import sandbox_workers
        jobs = self._prepare(jobs)
        if not jobs:
            return {}
        ids = [j["id"] for j in jobs]
        if len(set(ids)) != len(ids):
            raise ValueError("execution job ids must be unique within one call")
        if self.spec == "embedded":
            if self._pool is None:
                self._pool = sandbox_workers.SandboxPool(self.num_workers)
            try:
                results = list(progress.bar(self._pool.run(jobs), total=len(jobs), desc="execute", unit="prog",
                                            enabled=self.progress, leave=False))
            except BaseException:
                self.close()  # a pool that failed mid-batch is not reused
                raise
        else:
            client = sandbox_workers.QueueClient(self.spec)
            batch = client.submit(jobs)
            results = client.results(batch, timeout_s=self.queue_timeout_s)
        by_id = {r["id"]: r for r in results}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise RuntimeError(f"executor {self.spec!r} returned no result for {len(missing)} jobs, e.g. {missing[:3]}")
        return by_id


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
