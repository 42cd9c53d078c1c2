"""One RL rollout: prompts -> n samples each -> rewards -> old-policy / reference log-probs -> advantages.

The rollout batch is laid out prompt-major (sample ``i`` of prompt ``p`` at row ``p * n + i``) and
packed into fixed, bucketed shapes so the jitted forward and update steps compile a handful of times:

* ``input_ids`` / ``attention_mask`` ``[B, P + R]``: the prompt left-padded into ``P`` columns, the
  response right-padded into the last ``R`` columns;
* response arrays ``[B, R]`` (``response_mask``, log-probs, advantages) cover only those ``R``
  columns, which is the layout of :mod:`acecoder_jax.rl.algorithms`.

Log-probs are recomputed with a full forward pass, batch chunk by batch chunk, and inside each
chunk sequence chunk by sequence chunk, so the ``[B, T, V]`` logits never exist at once.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from acecoder_jax.prompts import PROMPT_TEMPLATES
from acecoder_jax.rl.algorithms import (ADVANTAGE_ESTIMATORS, KL_ESTIMATORS, entropy_from_logits,
                                        masked_mean, prompt_major_group_ids, token_log_probs)
from acecoder_jax.sampling import Completion, Sampler, SamplingParams
from acecoder_jax.tokenization import bucket_length
from acecoder_jax.train.data import holdout_indices
from acecoder_jax.train.lm_loss import map_position_chunks

# --------------------------------------------------------------------------------------------
# Problems: what a rollout prompts with and tests against
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RLProblem:
    """A training question with its tests and the prompt the policy continues (a benchmark task to
    evaluate on is evaluation.benchmarks.Problem)."""

    id: str
    question: str
    tests: tuple[str, ...]
    prompt: str  # rendered prompt text the policy continues


class ProblemSet:
    """Problems indexed like a dataset, so `train.data.BatchSchedule` can order them by (seed, step)."""

    def __init__(self, problems: Sequence[RLProblem]):
        self.problems = list(problems)

    def __len__(self) -> int:
        return len(self.problems)

    def batch(self, indices: Sequence[int]) -> list[RLProblem]:
        return [self.problems[int(i)] for i in indices]

    def subset(self, indices: Sequence[int]) -> "ProblemSet":
        return ProblemSet(self.batch(indices))

    def split_holdout(self, fraction: float, seed: int) -> tuple["ProblemSet", "ProblemSet"]:
        """(train, held-out) with a seeded random `fraction` held out."""
        kept, held = holdout_indices(len(self), fraction, seed)
        return self.subset(kept), self.subset(held)


def make_problem(tokenizer, template: str, pid: str, question: str, tests: Sequence[str],
                 num_prompt_tests: int = 1) -> RLProblem:
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"problem {pid}: question must be a non-empty str")
    if isinstance(tests, str) or not tests or not all(isinstance(t, str) and t.strip() for t in tests):
        raise ValueError(f"problem {pid}: tests must be a non-empty list of assert strings")
    text = PROMPT_TEMPLATES[template](tokenizer, question, tests, num_prompt_tests)
    return RLProblem(str(pid), question, tuple(tests), text)


def load_problems(paths: str, tokenizer, *, template: str, num_prompt_tests: int = 1) -> ProblemSet:
    """AceCode records ({"id", "question", "test_cases"}; jsonl/parquet, local or gs://)."""
    from acecoder_jax.data import io

    problems = []
    for path in io.expand_inputs(paths):
        for row, rec in io.iter_records(path):
            if isinstance(rec, Exception):
                raise ValueError(f"{path} row {row}: unreadable record: {rec}")
            pid = rec.get("id", f"{path}:{row}")
            try:
                problems.append(make_problem(tokenizer, template, pid, rec.get("question"),
                                             rec.get("test_cases") or [], num_prompt_tests))
            except ValueError as e:
                raise ValueError(f"{path} row {row}: {e}") from e
    if not problems:
        raise ValueError(f"no problems in {paths!r}")
    return ProblemSet(problems)


def toy_problem_records(num_tasks: int, *, seed: int = 0, num_tests: int = 8,
                        difficulties: Sequence[int] = (1, 2, 3),
                        families: Optional[Sequence[str]] = None) -> list[dict]:
    """The bundled toy task family with tests from executing each reference solution.

    Records carry `question`, `test_cases`, the reference `solution` and `family` (tests and SFT
    warm starts use the solution; the policy never sees it).
    """
    from acecoder_jax.data.synthesis.reference_backend import ReferenceSynthesizer
    from acecoder_jax.data.toy_tasks import generate_toy_tasks

    synth = ReferenceSynthesizer(num_tests=num_tests, seed=seed)
    records = []
    for task in generate_toy_tasks(num_tasks, seed, tuple(difficulties),
                                   tuple(families) if families else None):
        draft = synth.draft(task.as_seed())
        if not draft.ok:
            raise RuntimeError(f"toy task {task.id} ({task.family}): no tests: {draft.error} {draft.detail}")
        records.append({"id": task.id, "question": draft.question, "test_cases": list(draft.tests),
                        "solution": task.solution, "family": task.family})
    return records


# --------------------------------------------------------------------------------------------
# Packing
# --------------------------------------------------------------------------------------------


def power_of_two_buckets(limit: int, smallest: int = 16) -> tuple[int, ...]:
    """smallest, 2*smallest, ... below `limit`, then `limit` itself."""
    if limit < 1:
        raise ValueError(f"bucket limit must be >= 1, got {limit}")
    out, b = [], smallest
    while b < limit:
        out.append(b)
        b *= 2
    return tuple(out) + (limit,)


def pack_sequences(prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]], pad_id: int,
                   prompt_buckets: Sequence[int], response_buckets: Sequence[int]) -> dict[str, np.ndarray]:
    """[prompt left-padded to P | response right-padded to R] rows, and the [B, R] response mask."""
    if len(prompt_ids) != len(response_ids) or not len(prompt_ids):
        raise ValueError(f"pack_sequences: {len(prompt_ids)} prompts and {len(response_ids)} responses")
    p = bucket_length(max(len(x) for x in prompt_ids), prompt_buckets, "prompt")
    r = bucket_length(max(max(len(x) for x in response_ids), 1), response_buckets, "response")
    b = len(prompt_ids)
    ids = np.full((b, p + r), pad_id, np.int32)
    mask = np.zeros((b, p + r), np.int32)
    response_mask = np.zeros((b, r), np.float32)
    for i, (pr, rs) in enumerate(zip(prompt_ids, response_ids)):
        if not len(pr):
            raise ValueError(f"pack_sequences: prompt {i} is empty")
        ids[i, p - len(pr):p] = pr
        mask[i, p - len(pr):p] = 1
        ids[i, p:p + len(rs)] = rs
        mask[i, p:p + len(rs)] = 1
        response_mask[i, :len(rs)] = 1.0
    return {"input_ids": ids, "attention_mask": mask, "response_mask": response_mask}


# --------------------------------------------------------------------------------------------
# Log-probs of response tokens, chunked along the sequence
# --------------------------------------------------------------------------------------------


def response_log_probs(model, input_ids: jax.Array, attention_mask: jax.Array, response_len: int, *,
                       temperature: float = 1.0, chunk: int = 512,
                       with_entropy: bool = False) -> tuple[jax.Array, Optional[jax.Array]]:
    """log pi(token) [B, R] (and entropy [B, R]) of the last R columns, from hidden states.

    Logits are made chunk by chunk inside a rematerialised scan body, so neither the forward nor the
    backward pass holds more than one [B, chunk, V] block.
    """
    hidden, _ = model.hidden_states(input_ids, attention_mask)
    length = input_ids.shape[1]
    start = length - response_len
    if start < 1:
        raise ValueError(f"response_len={response_len} leaves no prompt column in length {length}")
    h = hidden[:, start - 1:length - 1]  # position t predicts token t + 1

    def one(hc, tc):
        logits = model.logits(hc)
        logp = token_log_probs(logits, tc, temperature)
        return logp, (entropy_from_logits(logits, temperature) if with_entropy else jnp.zeros_like(logp))

    logp, ent = map_position_chunks(one, h, input_ids[:, start:], chunk=max(1, chunk))
    return logp, (ent if with_entropy else None)


@functools.partial(jax.jit, static_argnums=(0, 4, 5, 6, 7))
def _forward_log_probs(graphdef, params, input_ids, attention_mask, response_len: int, temperature: float,
                       chunk: int, with_entropy: bool):
    model = nnx.merge(graphdef, params)
    return response_log_probs(model, input_ids, attention_mask, response_len, temperature=temperature,
                              chunk=chunk, with_entropy=with_entropy)


def batched_log_probs(graphdef, params, input_ids: np.ndarray, attention_mask: np.ndarray, response_len: int,
                      *, rows_per_call: int, place: Callable[[np.ndarray], Any], temperature: float = 1.0,
                      chunk: int = 512, with_entropy: bool = False) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Response log-probs of a whole rollout batch, `rows_per_call` rows at a time (no gradient)."""
    b = input_ids.shape[0]
    if b % rows_per_call:
        raise ValueError(f"rollout batch of {b} rows is not a multiple of logprob rows_per_call={rows_per_call}")
    logps, ents = [], []
    for lo in range(0, b, rows_per_call):
        sl = slice(lo, lo + rows_per_call)
        logp, ent = _forward_log_probs(graphdef, params, place(input_ids[sl]), place(attention_mask[sl]),
                                       response_len, float(temperature), int(chunk), bool(with_entropy))
        logps.append(np.asarray(logp))
        if with_entropy:
            ents.append(np.asarray(ent))
    return np.concatenate(logps), (np.concatenate(ents) if with_entropy else None)


# --------------------------------------------------------------------------------------------
# Advantages
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AdvantageSpec:
    estimator: str = "reinforce++"
    gamma: float = 1.0
    reward_clip: float = 10.0
    kl_coef: float = 0.0  # > 0: -kl_coef * KL_t folded into the per-token reward
    kl_estimator: str = "k1"

    def __post_init__(self):
        ADVANTAGE_ESTIMATORS[self.estimator]  # unknown names fail here, with the known ones listed
        KL_ESTIMATORS[self.kl_estimator]
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0, got {self.kl_coef}")


@functools.partial(jax.jit, static_argnums=(0,))
def _advantages(spec: AdvantageSpec, rewards, response_mask, group_ids, logp_old, logp_ref):
    kl = None if logp_ref is None else KL_ESTIMATORS[spec.kl_estimator](logp_old, logp_ref)
    coef = spec.kl_coef if kl is not None else 0.0
    out = ADVANTAGE_ESTIMATORS[spec.estimator](rewards, response_mask, group_ids, kl=kl, kl_coef=coef,
                                               reward_clip=spec.reward_clip, gamma=spec.gamma)
    return out.advantages, out.returns


def compute_advantages(spec: AdvantageSpec, rewards: np.ndarray, response_mask: np.ndarray,
                       group_ids: np.ndarray, logp_old: np.ndarray,
                       logp_ref: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(advantages, returns) [B, R] on the host; the KL penalty needs `logp_ref` when kl_coef > 0."""
    if spec.kl_coef > 0 and logp_ref is None:
        raise ValueError("kl_coef > 0 puts a KL penalty in the reward: reference log-probs are required")
    ref = logp_ref if spec.kl_coef > 0 else None
    adv, ret = _advantages(spec, jnp.asarray(rewards, jnp.float32), jnp.asarray(response_mask),
                           jnp.asarray(group_ids), jnp.asarray(logp_old),
                           None if ref is None else jnp.asarray(ref))
    return np.asarray(adv), np.asarray(ret)


# --------------------------------------------------------------------------------------------
# The rollout
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RolloutBatch:
    """Everything an update needs (host numpy) plus what logging and debugging want."""

    arrays: dict[str, np.ndarray]  # input_ids, attention_mask, response_mask, logp_old, [logp_ref], advantages
    rewards: np.ndarray  # [B] scalar rewards
    reward_details: dict[str, np.ndarray]
    completions: list[str]
    problems: list[RLProblem]  # per row
    metrics: dict[str, float]


class RolloutWorker:
    """Samples, scores and prepares one rollout batch from given actor / reference parameters."""

    def __init__(self, sampler: Sampler, tokenizer, reward: Callable, *, n_samples: int,
                 sampling: SamplingParams, advantage: AdvantageSpec, place: Callable[[np.ndarray], Any],
                 logprob_rows: int, logprob_chunk: int = 512, prompt_buckets: Sequence[int] = (64, 128, 256, 512,
                                                                                              1024, 2048),
                 need_reference: bool = True):
        if sampling.n != n_samples:
            sampling = dataclasses.replace(sampling, n=n_samples)
        self.sampler, self.tokenizer, self.reward = sampler, tokenizer, reward
        self.n_samples, self.sampling, self.advantage = n_samples, sampling, advantage
        self.place, self.logprob_rows, self.logprob_chunk = place, logprob_rows, logprob_chunk
        self.prompt_buckets = tuple(sorted(prompt_buckets))
        self.response_buckets = power_of_two_buckets(sampling.max_new_tokens)
        self.need_reference = need_reference
        from acecoder_jax.tokenization import pad_token_id

        self.pad_id = pad_token_id(tokenizer)
        self._encoded: dict[str, list[int]] = {}

    def _prompt_ids(self, problem: RLProblem) -> list[int]:
        ids = self._encoded.get(problem.prompt)
        if ids is None:
            ids = list(self.tokenizer(problem.prompt, add_special_tokens=False)["input_ids"])
            if not ids:
                raise ValueError(f"problem {problem.id}: prompt encodes to no tokens")
            self._encoded[problem.prompt] = ids
        return ids

    def sample(self, problems: Sequence[RLProblem], params, seed: int,
               sampling: Optional[SamplingParams] = None) -> list[list[Completion]]:
        sp = dataclasses.replace(sampling or self.sampling, seed=int(seed))
        return self.sampler.generate_ids([self._prompt_ids(p) for p in problems], sp, params_state=params)

    def collect(self, problems: Sequence[RLProblem], graphdef, params, ref_params, seed: int) -> RolloutBatch:
        t0 = time.perf_counter()
        per_prompt = self.sample(problems, params, seed)
        t_sample = time.perf_counter() - t0

        rows = [(p, c) for p, cs in zip(problems, per_prompt) for c in cs]
        row_problems = [p for p, _ in rows]
        completions = [c for _, c in rows]
        texts = [c.text for c in completions]

        t0 = time.perf_counter()
        out = self.reward([p.question for p in row_problems], texts, [list(p.tests) for p in row_problems])
        t_reward = time.perf_counter() - t0
        rewards = np.asarray(out.values, np.float32)
        if rewards.shape != (len(rows),) or not np.all(np.isfinite(rewards)):
            raise RuntimeError(f"reward returned {rewards.shape} values (finite: {np.isfinite(rewards).all()}) "
                               f"for {len(rows)} samples")

        t0 = time.perf_counter()
        packed = pack_sequences([self._prompt_ids(p) for p in row_problems], [c.tokens for c in completions],
                                self.pad_id, self.prompt_buckets, self.response_buckets)
        r = packed["response_mask"].shape[1]
        kw = dict(rows_per_call=self.logprob_rows, place=self.place, temperature=self.sampling.temperature or 1.0,
                  chunk=self.logprob_chunk)
        logp_old, entropy = batched_log_probs(graphdef, params, packed["input_ids"], packed["attention_mask"], r,
                                              with_entropy=True, **kw)
        logp_ref = None
        if self.need_reference:
            logp_ref, _ = batched_log_probs(graphdef, ref_params, packed["input_ids"], packed["attention_mask"], r,
                                            **kw)
        t_logprobs = time.perf_counter() - t0

        mask = packed["response_mask"]
        groups = np.asarray(prompt_major_group_ids(len(problems), self.n_samples))
        advantages, returns = compute_advantages(self.advantage, rewards, mask, groups, logp_old, logp_ref)
        arrays = dict(packed, logp_old=logp_old.astype(np.float32), advantages=advantages.astype(np.float32))
        if logp_ref is not None:
            arrays["logp_ref"] = logp_ref.astype(np.float32)

        lengths = mask.sum(1)
        n_tokens = float(lengths.sum())
        sampler_lp = np.zeros_like(logp_old)
        for i, c in enumerate(completions):
            sampler_lp[i, :len(c.logprobs)] = c.logprobs
        metrics = {
            "reward_mean": float(rewards.mean()), "reward_std": float(rewards.std()),
            "response_length": float(lengths.mean()), "response_length_max": float(lengths.max()),
            "truncated_fraction": float(np.mean([c.finish_reason == "length" for c in completions])),
            "entropy": _masked_mean_np(entropy, mask),
            "advantage_mean": _masked_mean_np(advantages, mask),
            "return_mean": _masked_mean_np(returns, mask),
            "sampler_logprob_gap": _masked_mean_np(np.abs(sampler_lp - logp_old), mask),
            "tokens_generated": n_tokens,
            "tokens_per_s": n_tokens / max(t_sample, 1e-9),
            "time_rollout": t_sample, "time_execution": t_reward, "time_logprobs": t_logprobs,
        }
        if logp_ref is not None:
            for name in ("k1", "k3"):
                metrics[f"kl_{name}"] = _masked_mean_np(np.asarray(KL_ESTIMATORS[name](jnp.asarray(logp_old),
                                                                                        jnp.asarray(logp_ref))), mask)
        metrics["kl"] = metrics.get(f"kl_{self.advantage.kl_estimator}", 0.0)
        for key, values in out.details.items():
            base = key.rsplit("/", 1)[-1]
            if base in ("pass_rate", "all_pass", "format_ok", "raw_score", "has_code"):
                metrics[key.replace("/", "_")] = float(np.mean(values))
        return RolloutBatch(arrays=arrays, rewards=rewards, reward_details=dict(out.details), completions=texts,
                            problems=row_problems, metrics=metrics)


def _masked_mean_np(x: np.ndarray, mask: np.ndarray) -> float:
    return float(masked_mean(jnp.asarray(x, jnp.float32), jnp.asarray(mask, jnp.float32)))
