"""Job validation and result records: the executor's input and output contract."""
from __future__ import annotations

import argparse
import math

OUTCOMES = ("pass", "fail", "error", "timeout", "not_run")
STATUSES = ("ok", "syntax_error", "crash", "timeout", "memory", "invalid")
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_MEMORY_MB = 1024
MAX_TIMEOUT_S = 120.0
MIN_MEMORY_MB, MAX_MEMORY_MB = 64, 65536
MAX_PROGRAM_CHARS = 1_000_000
MAX_TESTS = 10_000
MODES = ("assert", "values")
MAX_TIMEOUTS = 3


FORMAT_HELP = f"""\
job (one JSON object per line of a jobs file or queue shard):
  id              str | int, returned unchanged
  mode            "assert" (default: run `tests`) | "values" (return the values of `expressions`)
  program         Python source, at most {MAX_PROGRAM_CHARS:,} characters
  tests           assert mode: list of strings, each one `assert` statement (1 to {MAX_TESTS:,})
  expressions     values mode: list of expressions whose values come back
  timeout_s       per test or expression, default {DEFAULT_TIMEOUT_S}, at most {MAX_TIMEOUT_S:g}
  load_timeout_s  for loading the program, default timeout_s
  memory_mb       the program's memory, default {DEFAULT_MEMORY_MB}, in [{MIN_MEMORY_MB}, {MAX_MEMORY_MB}]
  details         true: add per-test error messages
  fresh_state     true: each test against a fresh copy of the loaded program
  max_timeouts    values mode: timed-out expressions before the rest are not_run, default {MAX_TIMEOUTS}
result (one line per job):
  id, status        {" | ".join(STATUSES)}
  outcomes          per test: {" | ".join(OUTCOMES)}
  pass_rate, duration_s; error and output when status is not ok; values mode adds values
Scoring rules, isolation levels and examples: docs/sandbox.md.
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """--help of the sandbox CLIs: the module docstring as written, every flag with its default
    (a help text that names its default itself keeps it)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required or action.default is argparse.SUPPRESS or "default" in text:
            return text
        default = "off" if action.default is False else "%(default)s"
        return f"{text} (default: {default})" if text else f"default: {default}"


class InvalidJob(ValueError):
    """A job that cannot be run; the message names the field and what is wrong."""


def _utf8(text: str, where: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidJob(f"{where} is not valid UTF-8 text (position {e.start})") from None



def validate(job) -> dict:
    """Return a normalized job or raise InvalidJob naming the field.

    Normalized: {id, mode, program, tests, timeout_s, load_timeout_s, memory_mb, details,
    fresh_state, max_timeouts}. `mode` "assert" (default) runs `tests` (assert statements); "values" evaluates
    `expressions` and returns their values. `details: true` adds per-test "messages";
    `fresh_state: true` runs every test against a fresh copy of the loaded program.
    """
    if not isinstance(job, dict):
        raise InvalidJob(f"job must be a JSON object, got {type(job).__name__}")
    mode = job.get("mode", "assert")
    if mode not in MODES:
        raise InvalidJob(f"'mode' must be one of {list(MODES)}, got {mode!r:.40}")
    items = "tests" if mode == "assert" else "expressions"
    for field in ("id", "program", items):
        if field not in job:
            raise InvalidJob(f"job is missing the field {field!r}")
    job_id = job["id"]
    if not isinstance(job_id, (str, int)) or isinstance(job_id, bool):
        raise InvalidJob(f"'id' must be a string or integer, got {type(job_id).__name__}")
    program = job["program"]
    if not isinstance(program, str):
        raise InvalidJob(f"'program' must be a string, got {type(program).__name__}")
    if len(program) > MAX_PROGRAM_CHARS:
        raise InvalidJob(f"'program' is {len(program)} characters, over the {MAX_PROGRAM_CHARS} limit")
    _utf8(program, "'program'")
    tests = job[items]
    if not isinstance(tests, list):
        raise InvalidJob(f"{items!r} must be a list of strings, got {type(tests).__name__}")
    if not tests:
        raise InvalidJob(f"{items!r} is empty: a pass rate needs at least one test")
    if len(tests) > MAX_TESTS:
        raise InvalidJob(f"{items!r} has {len(tests)} entries, over the {MAX_TESTS} limit")
    for i, test in enumerate(tests):
        if not isinstance(test, str):
            raise InvalidJob(f"{items}[{i}] must be a string, got {type(test).__name__}")
        _utf8(test, f"{items}[{i}]")
    timeout_s = job.get("timeout_s", DEFAULT_TIMEOUT_S)
    if timeout_s is None:
        timeout_s = DEFAULT_TIMEOUT_S
    if (not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool)
            or not math.isfinite(timeout_s) or not 0 < timeout_s <= MAX_TIMEOUT_S):
        raise InvalidJob(f"'timeout_s' must be a number in (0, {MAX_TIMEOUT_S}], got {timeout_s!r:.40}")
    memory_mb = job.get("memory_mb", DEFAULT_MEMORY_MB)
    if memory_mb is None:
        memory_mb = DEFAULT_MEMORY_MB
    if (not isinstance(memory_mb, int) or isinstance(memory_mb, bool)
            or not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB):
        raise InvalidJob(f"'memory_mb' must be an integer in [{MIN_MEMORY_MB}, {MAX_MEMORY_MB}], "
                         f"got {memory_mb!r:.40}")
    flags = {}
    for field in ("details", "fresh_state"):
        flags[field] = job.get(field, False)
        if not isinstance(flags[field], bool):
            raise InvalidJob(f"{field!r} must be true or false, got {flags[field]!r:.40}")
    load_timeout_s = job.get("load_timeout_s", timeout_s)
    if load_timeout_s is None:
        load_timeout_s = timeout_s
    if (not isinstance(load_timeout_s, (int, float)) or isinstance(load_timeout_s, bool)
            or not math.isfinite(load_timeout_s) or not 0 < load_timeout_s <= MAX_TIMEOUT_S):
        raise InvalidJob(f"'load_timeout_s' must be a number in (0, {MAX_TIMEOUT_S}], got {load_timeout_s!r:.40}")
    max_timeouts = job.get("max_timeouts", MAX_TIMEOUTS)
    if not isinstance(max_timeouts, int) or isinstance(max_timeouts, bool) or not 1 <= max_timeouts <= MAX_TESTS:
        raise InvalidJob(f"'max_timeouts' must be an integer in [1, {MAX_TESTS}], got {max_timeouts!r:.40}")
    return {"id": job_id, "mode": mode, "program": program, "tests": tests,
            "timeout_s": float(timeout_s), "load_timeout_s": float(load_timeout_s),
            "memory_mb": memory_mb, "max_timeouts": max_timeouts, **flags}


def job_id_of(job):
    """Best-effort id of a possibly malformed job, for error results."""
    if isinstance(job, dict):
        job_id = job.get("id")
        if isinstance(job_id, (str, int)) and not isinstance(job_id, bool):
            return job_id
    return None


def make_result(job_id, status: str, outcomes: list[str], duration_s: float, **extra) -> dict:
    passes = sum(1 for o in outcomes if o == "pass")
    result = {"id": job_id, "status": status, "outcomes": outcomes,
              "pass_rate": passes / len(outcomes) if outcomes else 0.0,
              "duration_s": round(duration_s, 6)}
    result.update(extra)
    return result


def invalid_result(job, reason: str, duration_s: float = 0.0) -> dict:
    tests = None
    if isinstance(job, dict):
        tests = job.get("expressions") if job.get("mode") == "values" else job.get("tests")
    count = len(tests) if isinstance(tests, list) else 0
    return make_result(job_id_of(job), "invalid", ["not_run"] * count, duration_s, error=reason)
