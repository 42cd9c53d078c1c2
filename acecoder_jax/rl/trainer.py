"""Assembling an RL run from a config (configs/rl.py): the builders below make each part, and
`build_learner` hands them, ready, to rl.learner.RLLearner (which only runs steps).

The reference model is frozen: a copy of the initial actor (or its own checkpoint) on the same mesh.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import nnx

from acecoder_jax import builders
from acecoder_jax.errors import ConfigError
from acecoder_jax.execution import build_executor
from acecoder_jax.models.init import build_model
from acecoder_jax.parallel import batch_sharding, place_batch, replicate_rest
from acecoder_jax.rl.learner import RLLearner, RLParts, RLResult, rl_loss
from acecoder_jax.rl.rewards import build_reward
from acecoder_jax.rl.rollout import (AdvantageSpec, ProblemSet, RolloutWorker, load_problems, make_problem,
                                     toy_problem_records)
from acecoder_jax.sampling import Sampler, SamplingParams
from acecoder_jax.tokenization import stop_token_ids
from acecoder_jax.train.data import BatchSchedule
from acecoder_jax.train.step import init_train_state, make_train_step



class RLSizes(NamedTuple):
    rows: int  # rollout rows per step
    updates_per_step: int
    accum_steps: int


def rl_sizes(config, mesh) -> RLSizes:
    """The step's batch arithmetic, checked against the mesh: every mistake named at once."""
    c, ro, al = config, config.rollout, config.algo
    rows = ro.prompts_per_step * ro.n_samples
    micro = al.micro_batch or al.train_batch
    problems = []
    if rows % al.train_batch:
        problems.append(f"rollout rows {rows} (prompts_per_step x n_samples) is not a multiple of "
                        f"algo.train_batch={al.train_batch}")
    if al.train_batch % micro:
        problems.append(f"algo.train_batch={al.train_batch} is not a multiple of algo.micro_batch={micro}")
    if rows % ro.logprob_batch:
        problems.append(f"rollout rows {rows} is not a multiple of rollout.logprob_batch={ro.logprob_batch}")
    data_ways = mesh.shape["data"] * mesh.shape["fsdp"]
    for name, size in (("algo.micro_batch", micro), ("rollout.logprob_batch", ro.logprob_batch),
                       ("rollout.sampler_batch", ro.sampler_batch)):
        if size % data_ways:
            problems.append(f"{name}={size} is not divisible by the mesh's {data_ways} batch shards")
    if al.epochs < 1 or c.train.total_steps < 1:
        problems.append(f"algo.epochs={al.epochs} and train.total_steps={c.train.total_steps} must be >= 1")
    if problems:
        raise ConfigError("RL config: " + "; ".join(problems))
    return RLSizes(rows, al.epochs * (rows // al.train_batch), al.train_batch // micro)


def problem_sets(config, tokenizer) -> tuple[ProblemSet, Optional[ProblemSet]]:
    """(training problems, held-out problems or None) from config.data."""
    c, d = config, config.data
    if d.source == "toy":
        records = toy_problem_records(d.toy.num_tasks, seed=d.toy.seed, num_tests=d.toy.num_tests,
                                      difficulties=tuple(d.toy.difficulties),
                                      families=tuple(d.toy.families) or None)
        problems = ProblemSet([make_problem(tokenizer, d.template, r["id"], r["question"], r["test_cases"],
                                            d.num_prompt_tests) for r in records])
    elif d.source == "files":
        if not d.train:
            raise ConfigError("config.data.train is empty: give --config.data.train=FILES (AceCode problems: "
                              "question, test_cases)")
        problems = load_problems(d.train, tokenizer, template=d.template, num_prompt_tests=d.num_prompt_tests)
    else:
        raise ConfigError(f"config.data.source={d.source!r}; expected 'toy' or 'files'")
    if d.eval:
        return problems, load_problems(d.eval, tokenizer, template=d.template, num_prompt_tests=d.num_prompt_tests)
    if d.eval_fraction > 0:
        return problems.split_holdout(d.eval_fraction, c.seed)
    return problems, None


def reward_from(config, mesh, executor) -> Callable:
    """The weighted reward of config.reward; the "tests" reward runs on `executor`."""
    spec = config.reward.to_dict()
    resources = {"run_jobs": executor}
    if "reward_model" in spec:
        from acecoder_jax.rm.scoring import load_reward_scorer

        if "reward_model" not in config:
            raise ConfigError("config.reward.reward_model needs a config.reward_model block (the RM to load: "
                              "config_blocks.reward_model_config)")
        resources["score_fn"] = load_reward_scorer(config.reward_model, mesh=mesh)
    return build_reward(spec, **resources)


def reference_params(config, actor_params, mesh, tokenizer):
    """The frozen reference: config.reference.hf_path, else a copy of the initial actor (the
    actor's buffers are donated by every update, so it must be a copy)."""
    ref = config.reference
    if ref.hf_path:
        cfg = config.model.copy_and_resolve_references()
        cfg.init, cfg.hf_path = "hf", ref.hf_path
        model, _ = build_model(cfg, head="lm", mesh=mesh, tokenizer=tokenizer, seed=config.seed)
        return nnx.split(model, nnx.Param)[1]
    return jax.tree.map(lambda x: jnp.array(x, copy=True), actor_params)


def build_learner(config, workdir: str, *, problems: Optional[ProblemSet] = None,
                  eval_problems: Optional[ProblemSet] = None, reward: Optional[Callable] = None,
                  run_jobs: Optional[Callable] = None, allow_config_change: bool = False) -> RLLearner:
    """The learner for `config` in `workdir`. Overrides for tests and embedding: `problems` /
    `eval_problems`, `reward` (a callable reward), `run_jobs` (instead of config.execution)."""
    c, ro, al = config, config.rollout, config.algo
    builders.start_run(c, workdir, allow_config_change=allow_config_change)
    mesh = builders.mesh_from(c)
    tokenizer = builders.tokenizer_from(c.model)
    sizes = rl_sizes(c, mesh)

    if problems is None:
        problems, default_eval = problem_sets(c, tokenizer)
        eval_problems = eval_problems if eval_problems is not None else default_eval
    if len(problems) < ro.prompts_per_step:
        raise ValueError(f"{len(problems)} training problems, fewer than rollout.prompts_per_step="
                         f"{ro.prompts_per_step}")
    executor = run_jobs if run_jobs is not None else build_executor(c.execution)
    reward = reward if reward is not None else reward_from(c, mesh, executor)

    model, model_config = build_model(c.model, head="lm", mesh=mesh, tokenizer=tokenizer, seed=c.seed)
    optimizer = builders.optimizer_from(c.optim, c.train.total_steps * sizes.updates_per_step)
    graphdef, state = init_train_state(model, optimizer.tx)
    state = replicate_rest(state, mesh)
    need_reference = al.kl_coef > 0 or al.kl_loss_coef > 0
    sampling = SamplingParams(max_new_tokens=ro.max_new_tokens, temperature=ro.temperature, top_p=ro.top_p,
                              top_k=ro.top_k, n=ro.n_samples, stop_token_ids=tuple(stop_token_ids(tokenizer)),
                              stop_strings=tuple(ro.stop_strings))
    sampler = Sampler(model, tokenizer, batch_size=ro.sampler_batch, prompt_buckets=tuple(ro.prompt_buckets))
    place_rows = batch_sharding(mesh, ro.logprob_batch)
    worker = RolloutWorker(
        sampler, tokenizer, reward, n_samples=ro.n_samples, sampling=sampling,
        advantage=AdvantageSpec(al.estimator, al.gamma, al.reward_clip, al.kl_coef, al.kl_estimator),
        place=lambda x: place_batch({"x": x}, place_rows)["x"], logprob_rows=ro.logprob_batch,
        logprob_chunk=ro.logprob_chunk, prompt_buckets=tuple(ro.prompt_buckets), need_reference=need_reference)
    loss_fn = functools.partial(rl_loss, policy_loss=al.policy_loss, clip_low=al.clip_low,
                                clip_high=al.clip_high or None, dual_clip=al.dual_clip or None,
                                temperature=ro.temperature or 1.0, chunk=ro.logprob_chunk,
                                kl_loss_coef=al.kl_loss_coef, kl_loss_estimator=al.kl_loss_estimator)
    train_sharding = batch_sharding(mesh, al.train_batch)
    train_step = make_train_step(graphdef, loss_fn, optimizer.tx,
                                 state_sharding=jax.tree.map(lambda x: x.sharding, state),
                                 batch_sharding=train_sharding, accum_steps=sizes.accum_steps)
    parts = RLParts(tokenizer=tokenizer, model_config=model_config, graphdef=graphdef, state=state,
                    train_step=train_step, train_sharding=train_sharding, lr_schedule=optimizer.lr_schedule,
                    worker=worker, ref_params=reference_params(c, state.params, mesh, tokenizer) if need_reference
                    else None, schedule=BatchSchedule(problems, ro.prompts_per_step, seed=c.seed), reward=reward,
                    executor=executor, problems=problems, eval_problems=eval_problems, **sizes._asdict())
    return RLLearner(c, workdir, parts)


def run_rl(config, workdir: str, **overrides) -> RLResult:
    """Builds the learner for `config`, trains (or resumes) in `workdir`, and releases the executor."""
    from acecoder_jax.parallel import initialize_multihost

    initialize_multihost()
    learner = build_learner(config, workdir, **overrides)
    try:
        return learner.train()
    finally:
        learner.close()
