"""The pipeline's one door to code execution: sandbox_workers, embedded or through a work queue.

`executor` config: "embedded" runs the sandbox pool on this host; anything else is a queue URI
(e.g. gs://bucket/queue) served by remote worker pools. Either way a stage hands over jobs
{"id", "program", "tests", "timeout_s"?, "memory_mb"?} and gets back {id: result}.
"""
from __future__ import annotations

from typing import Iterable


class Executor:
    def __init__(self, spec: str = "embedded", num_workers: int | None = None, timeout_s: float | None = None,
                 memory_mb: int | None = None, progress: bool = False, queue_timeout_s: float = 3600.0):
        if not spec:
            raise ValueError("executor spec must be 'embedded' or a queue URI")
        self.spec, self.num_workers, self.progress = spec, num_workers, progress
        self.timeout_s, self.memory_mb, self.queue_timeout_s = timeout_s, memory_mb, queue_timeout_s

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
            results = sandbox_workers.execute_jobs(jobs, num_workers=self.num_workers, progress=self.progress)
        else:
            client = sandbox_workers.QueueClient(self.spec)
            batch = client.submit(jobs)
            results = client.results(batch, timeout_s=self.queue_timeout_s)
        by_id = {r["id"]: r for r in results}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise RuntimeError(f"executor {self.spec!r} returned no result for {len(missing)} jobs, e.g. {missing[:3]}")
        return by_id
