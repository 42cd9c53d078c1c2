"""Progress line on a terminal and the run summary (jobs, tests, pass rate, programs/s, statuses)."""
from __future__ import annotations

import collections
import sys
import time


class Summary:
    """Running totals over result records."""

    def __init__(self):
        self.start = time.monotonic()
        self.jobs = 0
        self.tests = 0
        self.passed = 0
        self.pass_rate_sum = 0.0
        self.statuses: collections.Counter = collections.Counter()

    def add(self, result: dict) -> None:
        self.jobs += 1
        outcomes = result.get("outcomes") or []
        self.tests += len(outcomes)
        self.passed += outcomes.count("pass") if type(outcomes) is list else 0
        self.pass_rate_sum += float(result.get("pass_rate") or 0.0)
        self.statuses[result.get("status")] += 1

    def as_dict(self) -> dict:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        return {"jobs": self.jobs, "tests": self.tests, "tests_passed": self.passed,
                "mean_pass_rate": round(self.pass_rate_sum / self.jobs, 6) if self.jobs else 0.0,
                "test_pass_fraction": round(self.passed / self.tests, 6) if self.tests else 0.0,
                "programs_per_s": round(self.jobs / elapsed, 3), "elapsed_s": round(elapsed, 3),
                "statuses": dict(self.statuses)}


class Progress(Summary):
    """A Summary that redraws one status line on stderr when it is a terminal."""

    def __init__(self, enabled: bool = True, stream=None):
        super().__init__()
        self.stream = stream or sys.stderr
        self.enabled = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0

    def update(self, result: dict) -> None:
        if not self.enabled:
            return
        self.add(result)
        now = time.monotonic()
        if now - self._last > 0.2:
            self._last = now
            d = self.as_dict()
            self.stream.write(f"\r{d['jobs']} jobs  {d['programs_per_s']:.1f} programs/s  "
                              f"pass {d['test_pass_fraction']:.3f}  {d['statuses']}   ")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.jobs:
            self.stream.write("\n")
            self.stream.flush()
