"""Scalar rewards for RL rollouts: executed tests, a reward model, R1 format, and weighted sums.

Every reward is a callable ``reward(prompts, completions, tests=None) -> RewardOutput`` over one
rollout batch (``B`` samples; ``tests[i]`` are the assert strings of sample ``i``'s question).
``RewardOutput.values`` is a float32 ``[B]`` array; ``details`` holds per-sample diagnostics such as
pass rates, for logging.

A reward that cannot be computed (executor down, queue timeout, a non-finite model score) is
retried a configurable number of times and then raises :class:`RewardError`. It never turns into a
silent 0, because the policy would learn from that. A program that fails its tests or times out
is a legitimate 0: that is the program's fault, not the reward's.
"""
from __future__ import annotations

import logging
import math
import numbers
import time
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from acecoder_jax.registry import Registry

log = logging.getLogger(__name__)

RunJobs = Callable[[list[dict]], Iterable[dict]]
ScoreFn = Callable[[Sequence[str], Sequence[str]], np.ndarray]

# Per-program statuses the executor reports for programs it actually ran. "invalid" (a job the
# executor refuses) raises at once; anything else, or a missing result, is retried.
PROGRAM_STATUSES = frozenset({"ok", "syntax_error", "crash", "timeout", "memory"})


class RewardError(RuntimeError):
    """A reward could not be computed; raised instead of returning a made-up value."""


class RewardOutput(NamedTuple):
    values: np.ndarray  # [B] float32
    details: dict[str, np.ndarray]  # name -> [B] per-sample diagnostics


def _check_batch(who: str, prompts: Sequence[str], completions: Sequence[str]) -> int:
    if len(prompts) != len(completions):
        raise ValueError(f"{who}: {len(prompts)} prompts but {len(completions)} completions")
    for i, c in enumerate(completions):
        if not isinstance(c, str):
            raise TypeError(f"{who}: completion {i} is {type(c).__name__}, expected str")
    return len(completions)


def _retrying(what: str, fn: Callable[[], Any], retries: int, backoff_s: float):
    """Call fn; on an exception retry up to `retries` times with exponential backoff."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as err:  # noqa: BLE001 - any failure of the reward source is retried
            if attempt == retries:
                raise RewardError(f"{what} failed after {attempt + 1} attempt(s): {err!r}") from err
            log.warning("%s failed (attempt %d of %d): %r; retrying", what, attempt + 1,
                        retries + 1, err)
            time.sleep(backoff_s * 2**attempt)


# --------------------------------------------------------------------------------------------
# Rewards
# --------------------------------------------------------------------------------------------

TEST_REWARD_MODES = ("all_pass", "pass_rate")


class ExecutionReward:
    """Reward from running the completion's code against its question's tests.

    mode "all_pass" (the paper's rule reward): 1 when every test passes, else 0.
    mode "pass_rate": the fraction of tests passed.
    Completions with no extractable code get 0 without being run.
    """

    def __init__(
        self,
        run_jobs: RunJobs,
        *,
        mode: str = "all_pass",
        timeout_s: float | None = None,
        retries: int = 2,
        retry_backoff_s: float = 1.0,
        extract_code: Callable[[str], str] | None = None,
    ):
        if mode not in TEST_REWARD_MODES:
            raise ValueError(f"ExecutionReward: mode {mode!r} is not one of {TEST_REWARD_MODES}")
        if retries < 0:
            raise ValueError(f"ExecutionReward: retries must be >= 0, got {retries}")
        if extract_code is None:
            from acecoder_jax.prompts import extract_code
        self.run_jobs = run_jobs
        self.mode = mode
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self.extract_code = extract_code

    def __call__(self, prompts: Sequence[str], completions: Sequence[str],
                 tests: Sequence[Sequence[str]] | None = None) -> RewardOutput:
        n = _check_batch("ExecutionReward", prompts, completions)
        if tests is None or len(tests) != n:
            got = "none" if tests is None else f"{len(tests)} lists"
            raise ValueError(f"ExecutionReward: needs one test list per completion ({n}), got {got}")
        jobs = {}
        for i, (completion, case_tests) in enumerate(zip(completions, tests)):
            if isinstance(case_tests, str) or not case_tests:
                raise ValueError(f"ExecutionReward: sample {i} needs a non-empty list of assert "
                                 f"strings, got {case_tests!r:.80}")
            program = self.extract_code(completion)
            if not program.strip():
                continue
            job = {"id": str(i), "program": program, "tests": list(case_tests)}
            if self.timeout_s is not None:
                job["timeout_s"] = self.timeout_s
            jobs[str(i)] = job

        results = self._execute(jobs, tests)
        pass_rate = np.zeros(n, np.float32)
        ran = np.zeros(n, np.float32)
        for job_id, result in results.items():
            pass_rate[int(job_id)] = result["pass_rate"]
            ran[int(job_id)] = 1.0
        all_pass = (pass_rate >= 1.0).astype(np.float32)
        values = all_pass if self.mode == "all_pass" else pass_rate
        return RewardOutput(values.astype(np.float32),
                            {"pass_rate": pass_rate, "all_pass": all_pass, "has_code": ran})

    def _execute(self, jobs: dict[str, dict], tests) -> dict[str, dict]:
        """Run jobs until each has a valid result; retry the rest; raise when retries run out."""
        done: dict[str, dict] = {}
        problems: dict[str, str] = {}
        for attempt in range(self.retries + 1):
            pending = [job for job_id, job in jobs.items() if job_id not in done]
            if not pending:
                break
            if attempt:
                log.warning("ExecutionReward: retrying %d of %d jobs (attempt %d of %d): %s",
                            len(pending), len(jobs), attempt + 1, self.retries + 1,
                            _summarise(problems))
                time.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
            problems = {}
            try:
                for result in self.run_jobs(pending):
                    job_id = str(result.get("id"))
                    if job_id not in jobs:
                        raise RewardError(f"ExecutionReward: executor returned a result for "
                                          f"unknown job id {job_id!r}")
                    if result.get("status") == "invalid":
                        raise RewardError(f"ExecutionReward: the executor rejected sample "
                                          f"{job_id}'s job: {result.get('error', 'no reason given')}")
                    problem = _result_problem(result, len(tests[int(job_id)]))
                    if problem is None:
                        done.setdefault(job_id, result)
                    else:
                        problems[job_id] = problem
            except RewardError:
                raise
            except Exception as err:  # noqa: BLE001 - executor down / queue timeout: retry
                problems["executor"] = repr(err)
            for job in pending:
                if job["id"] not in done and job["id"] not in problems:
                    problems[job["id"]] = "no result returned"
        missing = [job_id for job_id in jobs if job_id not in done]
        if missing:
            raise RewardError(
                f"ExecutionReward: {len(missing)} of {len(jobs)} programs have no valid result "
                f"after {self.retries + 1} attempt(s) (samples {', '.join(missing[:10])}"
                f"{' ...' if len(missing) > 10 else ''}): {_summarise(problems)}")
        return done


def _result_problem(result: Mapping, num_tests: int) -> str | None:
    """Why an executor result cannot be trusted as a program outcome, or None when it can."""
    status = result.get("status")
    if status not in PROGRAM_STATUSES:
        return f"status {status!r}"
    rate = result.get("pass_rate")
    if (not isinstance(rate, numbers.Real) or isinstance(rate, bool) or not math.isfinite(rate)
            or not 0.0 <= rate <= 1.0):
        return f"pass_rate {rate!r}"
    outcomes = result.get("outcomes")
    if outcomes is not None and len(outcomes) != num_tests:
        return f"{len(outcomes)} outcomes for {num_tests} tests"
    return None


def _summarise(problems: Mapping[str, str]) -> str:
    if not problems:
        return "no details"
    counts: dict[str, int] = {}
    for p in problems.values():
        counts[p] = counts.get(p, 0) + 1
    return "; ".join(f"{p} (x{c})" for p, c in sorted(counts.items(), key=lambda kv: -kv[1]))


NORMALIZATIONS = ("none", "batch", "running")


class ModelReward:
    """Reward-model scores, optionally normalized.

    `score_fn(prompts, completions) -> [B]` wraps a reward-model checkpoint (ours or an imported
    AceCodeRM). normalize "batch" whitens each batch; "running" standardises with the mean/std of
    every score seen so far (this batch included), whose state round-trips through
    `state_dict()` / `load_state_dict()` for exact resume.
    """

    def __init__(self, score_fn: ScoreFn, *, normalize: str = "none", eps: float = 1e-6,
                 retries: int = 0, retry_backoff_s: float = 1.0):
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"ModelReward: normalize {normalize!r} is not one of {NORMALIZATIONS}")
        self.score_fn = score_fn
        self.normalize = normalize
        self.eps = eps
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0  # sum of squared deviations from the mean (Chan et al. merge)

    def __call__(self, prompts: Sequence[str], completions: Sequence[str],
                 tests: Sequence[Sequence[str]] | None = None) -> RewardOutput:
        n = _check_batch("ModelReward", prompts, completions)

        def score() -> np.ndarray:
            out = np.asarray(self.score_fn(list(prompts), list(completions)), np.float64)
            if out.shape != (n,):
                raise RewardError(f"ModelReward: score_fn returned shape {out.shape}, "
                                  f"expected ({n},)")
            bad = np.flatnonzero(~np.isfinite(out))
            if bad.size:
                raise RewardError(f"ModelReward: score_fn returned non-finite scores for samples "
                                  f"{bad[:10].tolist()}")
            return out

        raw = _retrying("ModelReward score_fn", score, self.retries, self.retry_backoff_s)
        if self.normalize == "batch":
            values = (raw - raw.mean()) / (raw.std() + self.eps)
        elif self.normalize == "running":
            self._update(raw)
            std = math.sqrt(self.m2 / self.count)
            values = (raw - self.mean) / (std + self.eps)
        else:
            values = raw
        return RewardOutput(values.astype(np.float32), {"raw_score": raw.astype(np.float32)})

    def _update(self, batch: np.ndarray) -> None:
        n_b = batch.size
        mean_b = float(batch.mean())
        m2_b = float(np.square(batch - mean_b).sum())
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / total
        self.m2 += m2_b + delta * delta * self.count * n_b / total
        self.count = total

    def state_dict(self) -> dict[str, float]:
        return {"count": self.count, "mean": self.mean, "m2": self.m2}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        missing = {"count", "mean", "m2"} - set(state)
        if missing:
            raise KeyError(f"ModelReward.load_state_dict: missing keys {sorted(missing)}")
        self.count, self.mean, self.m2 = int(state["count"]), float(state["mean"]), float(state["m2"])


class FormatReward:
    """R1 template reward: `matched` when the completion is `...</think> <answer>...</answer>`.

    The check is `acecoder_jax.prompts.r1_format_ok` (the completion continues a prompt that ends
    inside `<think>`, so a leading `<think>` is optional).
    """

    def __init__(self, *, matched: float = 1.0, unmatched: float = 0.0):
        from acecoder_jax.prompts import r1_format_ok

        self.format_ok = r1_format_ok
        self.matched = matched
        self.unmatched = unmatched

    def __call__(self, prompts: Sequence[str], completions: Sequence[str],
                 tests: Sequence[Sequence[str]] | None = None) -> RewardOutput:
        _check_batch("FormatReward", prompts, completions)
        ok = np.array([self.format_ok(c) for c in completions], np.float32)
        values = np.where(ok > 0, self.matched, self.unmatched).astype(np.float32)
        return RewardOutput(values, {"format_ok": ok})


class WeightedReward:
    """sum_k weight_k * reward_k; each component's values appear in details as `name` and its own
    details as `name/key`."""

    def __init__(self, components: Mapping[str, tuple[Callable[..., RewardOutput], float]]):
        if not components:
            raise ValueError("WeightedReward: needs at least one component")
        for name, entry in components.items():
            if not (isinstance(entry, tuple) and len(entry) == 2 and callable(entry[0])):
                raise ValueError(f"WeightedReward: component {name!r} must be (reward, weight), "
                                 f"got {entry!r:.80}")
            if not math.isfinite(float(entry[1])):
                raise ValueError(f"WeightedReward: component {name!r} has weight {entry[1]!r}")
        self.components = dict(components)

    def __call__(self, prompts: Sequence[str], completions: Sequence[str],
                 tests: Sequence[Sequence[str]] | None = None) -> RewardOutput:
        n = _check_batch("WeightedReward", prompts, completions)
        total = np.zeros(n, np.float64)
        details: dict[str, np.ndarray] = {}
        for name, (reward, weight) in self.components.items():
            out = reward(prompts, completions, tests)
            if np.shape(out.values) != (n,):
                raise RewardError(f"WeightedReward: component {name!r} returned shape "
                                  f"{np.shape(out.values)}, expected ({n},)")
            total += float(weight) * out.values
            details[name] = out.values
            for key, value in out.details.items():
                details[f"{name}/{key}"] = value
        return RewardOutput(total.astype(np.float32), details)


# --------------------------------------------------------------------------------------------
# Building rewards from config
# --------------------------------------------------------------------------------------------

REWARD_BUILDERS = Registry("reward")


@REWARD_BUILDERS.register("tests")
def _build_tests(cfg: Mapping, **resources) -> ExecutionReward:
    executor = resources.get("run_jobs")
    if executor is None:
        raise ValueError("reward 'tests' needs a run_jobs resource (an acecoder_jax.execution.Executor, "
                         "built from the config's execution block)")
    return ExecutionReward(executor, mode=cfg.get("mode", "all_pass"),
                           timeout_s=cfg.get("timeout_s"), retries=cfg.get("retries", 2),
                           retry_backoff_s=cfg.get("retry_backoff_s", 1.0))


@REWARD_BUILDERS.register("reward_model")
def _build_reward_model(cfg: Mapping, **resources) -> ModelReward:
    score_fn = resources.get("score_fn")
    if score_fn is None:
        raise ValueError("reward 'reward_model' needs a score_fn resource (the loaded RM's scorer)")
    return ModelReward(score_fn, normalize=cfg.get("normalize", "none"), eps=cfg.get("eps", 1e-6),
                       retries=cfg.get("retries", 0))


@REWARD_BUILDERS.register("format")
def _build_format(cfg: Mapping, **resources) -> FormatReward:
    return FormatReward(matched=cfg.get("matched", 1.0), unmatched=cfg.get("unmatched", 0.0))


def build_reward(spec: Mapping[str, Mapping], **resources) -> WeightedReward:
    """Weighted reward from {name: {"weight": w, ...options}}; names are REWARD_BUILDERS keys.

    resources: `score_fn` for "reward_model"; `run_jobs` (an acecoder_jax.execution.Executor) for
    "tests". Example: {"tests": {"weight": 1.0, "mode": "all_pass"}, "format": {"weight": 0.5}}.
    """
    components = {}
    for name, cfg in spec.items():
        cfg = dict(cfg)
        if "weight" not in cfg:
            raise ValueError(f"build_reward: reward {name!r} has no 'weight'")
        components[name] = (REWARD_BUILDERS[name](cfg, **resources), float(cfg["weight"]))
    return WeightedReward(components)
