"""Best-of-N evaluation: sample N programs per problem, score them with a reward model, execute
them, and report greedy / mean / best-of-n (n = 1, 2, 4, ..., N) / oracle pass@N."""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import numpy as np

from acecoder_jax.evaluation import metrics
from acecoder_jax.evaluation.benchmarks import Problem, program_for
from acecoder_jax.prompts import extract_code, render_prompt
from acecoder_jax.sampling import Sampler, SamplingParams


@dataclasses.dataclass(frozen=True)
class BestOfNSettings:
    n: int = 16
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 1024
    seed: int = 0
    timeout_s: float = 5.0  # per test
    stop_strings: tuple[str, ...] = ()
    selection: str = "subsets"
    template: str = "chat"  # policy prompt template: chat | r1 | plain (prompts.PROMPT_TEMPLATES)


def problem_question(problem: Problem) -> str:
    """What the policy and the RM see: the benchmark prompt (signature + docstring); tests stay hidden."""
    return problem.prompt


def evaluate_best_of_n(problems: Sequence[Problem], sampler: Sampler, scorer, executor,
                       settings: BestOfNSettings, *, stop_token_ids: Sequence[int] = (),
                       progress: bool = False) -> tuple[dict, list[dict]]:
    """Returns (summary, per-sample records). `scorer(questions, responses) -> rewards`;
    `executor.run(jobs) -> {id: result}` (acecoder_jax.execution.Executor)."""
    if not problems:
        raise ValueError("best-of-N needs at least one problem")
    tok = sampler.tokenizer
    questions = [problem_question(p) for p in problems]
    prompts = [render_prompt(settings.template, tok, q) for q in questions]
    times = {}
    t = time.perf_counter()
    common = dict(max_new_tokens=settings.max_new_tokens, stop_token_ids=tuple(stop_token_ids),
                  stop_strings=settings.stop_strings, seed=settings.seed)
    greedy = sampler.generate(prompts, SamplingParams(temperature=0.0, n=1, **common), progress=progress)
    samples = sampler.generate(prompts, SamplingParams(temperature=settings.temperature, top_p=settings.top_p,
                                                        n=settings.n, **common), progress=progress)
    times["sampling_s"] = time.perf_counter() - t

    records, jobs = [], []
    for p, problem in enumerate(problems):
        for kind, group in (("greedy", greedy[p]), ("sample", samples[p])):
            for i, c in enumerate(group):
                rid = f"{problem.task_id}/{kind}/{i}"
                records.append({"id": rid, "task_id": problem.task_id, "kind": kind, "index": i,
                                "completion": c.text, "num_tokens": int(len(c.tokens))})
                jobs.append({"id": rid, "program": program_for(problem, extract_code(c.text)),
                             "tests": list(problem.tests), "timeout_s": settings.timeout_s})
    t = time.perf_counter()
    results = executor.run(jobs)
    times["execution_s"] = time.perf_counter() - t
    for r in records:
        res = results[r["id"]]
        r.update(status=res["status"], pass_rate=float(res["pass_rate"]),
                 passed=bool(res["status"] == "ok" and res["pass_rate"] == 1.0))

    t = time.perf_counter()
    sampled = [r for r in records if r["kind"] == "sample"]
    q_of = {p.task_id: q for p, q in zip(problems, questions)}
    scores = scorer([q_of[r["task_id"]] for r in sampled], [r["completion"] for r in sampled])
    for r, s in zip(sampled, scores):
        r["rm_score"] = float(s)
    times["scoring_s"] = time.perf_counter() - t

    by_task = {p.task_id: [] for p in problems}
    for r in sampled:
        by_task[r["task_id"]].append(r)
    score_rows = [np.array([r["rm_score"] for r in by_task[p.task_id]]) for p in problems]
    pass_rows = [np.array([r["passed"] for r in by_task[p.task_id]]) for p in problems]
    greedy_passed = [next(r["passed"] for r in records if r["task_id"] == p.task_id and r["kind"] == "greedy")
                     for p in problems]
    summary = metrics.summarize(score_rows, pass_rows, greedy_passed, selection=settings.selection)
    summary["timing"] = {k: round(v, 2) for k, v in times.items()}
    return summary, records


def rerank(problems: Sequence[Problem], config) -> tuple[dict, list[dict]]:
    """Best-of-N over `problems` as a best_of_n config (configs/best_of_n.py) describes it: the
    policy and RM from their hf_paths, the sampler, config.bon's settings and config.execution.
    launch/best_of_n.py and the demo both run this. Returns evaluate_best_of_n's (summary, records)."""
    from acecoder_jax import builders
    from acecoder_jax.errors import ConfigError
    from acecoder_jax.execution import build_executor
    from acecoder_jax.models.init import build_model
    from acecoder_jax.rm.scoring import load_reward_scorer
    from acecoder_jax.tokenization import pad_token_id, stop_token_ids

    for name in ("policy", "reward_model"):
        if not config[name].hf_path:
            raise ConfigError(f"config.{name}.hf_path is empty: give --config.{name}.hf_path=DIR (local, "
                              "gs:// or a Hugging Face Hub id)")
    mesh = builders.mesh_from(config)
    policy_tok = builders.tokenizer_from(config.policy, "config.policy")
    policy, _ = build_model(config.policy, head="lm", mesh=mesh, tokenizer=policy_tok, seed=config.bon.seed,
                            what="config.policy")
    sampler = Sampler(policy, policy_tok, batch_size=config.sampler.batch_size,
                      prompt_buckets=tuple(config.sampler.prompt_buckets), pad_id=pad_token_id(policy_tok))
    scorer = load_reward_scorer(config.reward_model, mesh=mesh)
    b = config.bon
    settings = BestOfNSettings(n=b.n, temperature=b.temperature, top_p=b.top_p, max_new_tokens=b.max_new_tokens,
                               seed=b.seed, timeout_s=b.timeout_s, selection=b.selection, template=b.template)
    with build_executor(config.execution, progress=config.progress) as executor:
        return evaluate_best_of_n(problems, sampler, scorer, executor, settings,
                                  stop_token_ids=stop_token_ids(policy_tok), progress=config.progress)
