"""Sandboxed execution of untrusted programs against assert tests, on this host or through a
GCS work queue. Imports no JAX, so CPU-only worker hosts can install and run it alone.

Names load lazily so the supervisor and zygote processes stay small and fast to fork.
"""
import importlib

_EXPORTS = {
    "execute_jobs": "sandbox_workers.pool",
    "SandboxPool": "sandbox_workers.pool",
    "QueueClient": "sandbox_workers.queue",
    "QueueTimeout": "sandbox_workers.queue",
    "NoWorkerError": "sandbox_workers.queue",
    "split_check": "sandbox_workers.humaneval_split",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sandbox_workers' has no attribute {name!r}")
