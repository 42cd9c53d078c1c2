"""The RL learner: given ready parts (rl.trainer.build_learner assembles them from a config), it
runs rollout + update steps, evaluates, checkpoints, resumes and exports.

One RL step = one rollout batch (``prompts_per_step`` prompts x ``n_samples``) followed by
``epochs`` passes over it in mini-batches of ``train_batch`` rows; each mini-batch is one optimizer
update (split into micro-batches by the shared train step), and every loss is normalised by the
mini-batch's global response-token count.

Exact resume: the actor's TrainState is checkpointed with orbax; the meta holds the RL step, the
seed, the data position and the rewards' running statistics. Prompts, sampling seeds and mini-batch
orders are pure functions of (seed, step), so a resumed run replays the uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np
from flax import nnx

from acecoder_jax import builders, progress
from acecoder_jax.checkpoints.orbax import Checkpointer
from acecoder_jax.data import io
from acecoder_jax.extras import MissingExtra
from acecoder_jax.parallel import place_batch
from acecoder_jax.rl.algorithms import POLICY_LOSSES, kl_loss
from acecoder_jax.rl.rewards import ExecutionReward
from acecoder_jax.rl.rollout import ProblemSet, RolloutWorker, response_log_probs
from acecoder_jax.train.data import BatchSchedule
from acecoder_jax.train.metrics import MetricsWriter, read_metrics

CHECKPOINT_DIR = "checkpoints"
EXPORT_TRIGGER = "EXPORT_NOW"  # touch <workdir>/EXPORT_NOW to export the policy at the next step
CURVE_FILE = "reward_curve.png"
# What an RL step line shows (the rest is in metrics.jsonl / TensorBoard): loss, reward, pass rates, KL.
RL_STEP_FIELDS = tuple(f for f in progress.STEP_FIELDS
                       if f[0] in ("loss", "reward_mean", "raw_score", "pass@1", "pass_rate", "all_pass", "kl"))
TIMING_KEYS = ("time_rollout", "time_execution", "time_logprobs", "time_update", "time_step", "tokens_per_s",
               "eval_time")


def rl_loss(model, batch: dict, *, policy_loss: str = "ppo-clip", clip_low: float = 0.2,
            clip_high: Optional[float] = None, dual_clip: Optional[float] = None, temperature: float = 1.0,
            chunk: int = 512, kl_loss_coef: float = 0.0, kl_loss_estimator: str = "k3"):
    """Clipped policy loss (+ optional KL-to-reference term), both / the global token count.

    batch: input_ids, attention_mask [B, P+R]; response_mask, logp_old, advantages[, logp_ref] [B, R];
    num_tokens [B] (every entry the mini-batch's response-token count / accumulation steps).
    """
    mask = batch["response_mask"]
    logp, _ = response_log_probs(model, batch["input_ids"], batch["attention_mask"], mask.shape[1],
                                 temperature=temperature, chunk=chunk)
    num_tokens = batch["num_tokens"][0]
    kw = {"clip_low": clip_low, "clip_high": clip_high, "dual_clip": dual_clip} if policy_loss == "ppo-clip" else {}
    pl = POLICY_LOSSES[policy_loss](logp, batch["logp_old"], batch["advantages"], mask, num_tokens=num_tokens, **kw)
    loss = pl.loss
    metrics = {"policy_loss": pl.loss, "clip_fraction": pl.clip_fraction, "approx_kl": pl.approx_kl,
               "ratio_mean": pl.ratio_mean}
    if kl_loss_coef > 0:
        kl = kl_loss(logp, batch["logp_ref"], mask, kl_loss_estimator, num_tokens)
        loss = loss + kl_loss_coef * kl
        metrics["kl_loss"] = kl
    metrics["loss"] = loss
    return loss, metrics


def step_seed(seed: int, step: int) -> int:
    """The sampling seed of RL step `step`: a pure function of (seed, step)."""
    return int(np.random.default_rng([seed, step, 0x5EED]).integers(2**31 - 1))


def plot_reward_curve(workdir: str, path: Optional[str] = None, title: Optional[str] = None) -> Optional[str]:
    """PNG of the run's pass rates (and raw RM score), held-out pass@1 and KL against RL step."""
    from acecoder_jax import plots

    train = read_metrics(workdir, "train")
    if not train:
        return None
    fig = plots.new_figure(8, 6.5)
    plots.rl_run(fig, train, read_metrics(workdir, "eval"), title or f"RL run {workdir}")
    path = path or io.join(workdir, CURVE_FILE)
    io.write_bytes(path, plots.png_bytes(fig))
    return path



@dataclasses.dataclass
class RLParts:
    """What a learner is handed (rl.trainer.build_learner builds each from the config)."""
    tokenizer: Any
    model_config: Any
    graphdef: Any
    state: Any  # the actor's TrainState, on the mesh
    train_step: Callable  # (state, placed mini-batch) -> (state, metrics), donating the state
    train_sharding: Any
    lr_schedule: Callable
    worker: RolloutWorker
    ref_params: Any  # the frozen reference's params, or None without a KL term
    schedule: BatchSchedule  # which problems each RL step rolls out
    reward: Callable
    executor: Any  # runs the eval programs (the test reward's executor), closed by close()
    problems: ProblemSet
    eval_problems: Optional[ProblemSet]
    rows: int  # rollout rows per step (prompts_per_step x n_samples)
    updates_per_step: int
    accum_steps: int


@dataclasses.dataclass
class RLResult:
    history: list[dict]  # train rows logged by this run
    evals: list[dict]
    resumed_from: Optional[int]
    steps_done: int


class RLLearner:
    """Rollout + update steps over the parts it is given; the train loop owns checkpoints, metrics,
    evaluation, export triggers and the reward curve.

    Why over 150 lines: `train` (~75) keeps the whole step cadence (log, eval, save, export
    trigger, hooks) in one place a reader can check against the resume logic beside it."""

    def __init__(self, config, workdir: str, parts: RLParts):
        self.config, self.workdir, self.parts = config, workdir, parts
        self.state = parts.state
        self.last_rollout = None

    @property
    def problems(self) -> ProblemSet:
        return self.parts.problems

    @property
    def eval_problems(self) -> Optional[ProblemSet]:
        return self.parts.eval_problems

    # -- checkpoint meta --

    def _reward_states(self) -> dict:
        comps = getattr(self.parts.reward, "components", {})
        return {name: r.state_dict() for name, (r, _) in comps.items() if hasattr(r, "state_dict")}

    def _load_reward_states(self, states: dict) -> None:
        comps = getattr(self.parts.reward, "components", {})
        for name, s in states.items():
            if name not in comps:
                raise ValueError(f"checkpoint has running statistics for reward {name!r}, which this config lacks")
            comps[name][0].load_state_dict(s)

    def _meta(self, step: int) -> dict:
        return {"step": step, "seed": self.config.seed, "data": self.parts.schedule.position(step),
                "next_sampling_seed": step_seed(self.config.seed, step), "reward_state": self._reward_states(),
                "updates_per_step": self.parts.updates_per_step}

    # -- evaluation, export --

    def evaluate(self, problems: Optional[ProblemSet] = None, *, n: Optional[int] = None, seed: Optional[int] = None,
                 temperature: Optional[float] = None) -> dict:
        """Held-out pass@1 (mean over problems of passing samples / n) and mean test pass rate."""
        problems = problems if problems is not None else self.eval_problems
        if problems is None or not len(problems):
            raise ValueError("no held-out problems to evaluate (set data.eval or data.eval_fraction)")
        e = self.config.eval
        n = n or e.n_samples
        sp = dataclasses.replace(self.parts.worker.sampling, n=n,
                                 temperature=e.temperature if temperature is None else temperature)
        t0 = time.perf_counter()
        out = self.parts.worker.sample(problems.problems, self.state.params, e.seed if seed is None else seed, sp)
        texts = [c.text for cs in out for c in cs]
        tests = [list(p.tests) for p in problems.problems for _ in range(n)]
        scored = ExecutionReward(self.parts.executor, mode="all_pass")(
            [p.question for p in problems.problems for _ in range(n)], texts, tests)
        per_problem = scored.details["all_pass"].reshape(len(problems), n).mean(1)
        return {"pass@1": float(per_problem.mean()), "pass_rate": float(scored.details["pass_rate"].mean()),
                "problems": len(problems), "samples_per_problem": n, "eval_time": time.perf_counter() - t0}

    def policy_model(self):
        return nnx.merge(self.parts.graphdef, self.state.params)

    def export(self, out_dir: Optional[str] = None) -> str:
        """Writes the current policy as an HF *ForCausalLM checkpoint (+ tokenizer files)."""
        out_dir = out_dir or self.config.export.dir or io.join(self.workdir, builders.EXPORT_DIR)
        return builders.export_model(self.policy_model(), self.parts.model_config, self.parts.tokenizer, out_dir,
                                     self.config.export.dtype)

    # -- one RL step --

    def _update(self, rb, step: int) -> dict:
        al = self.config.algo
        arrays = {k: v for k, v in rb.arrays.items() if k != "logp_ref" or al.kl_loss_coef > 0}
        rows_metrics = []
        for epoch in range(al.epochs):
            order = np.random.default_rng([self.config.seed, step, epoch, 0xB47C]).permutation(self.parts.rows)
            for lo in range(0, self.parts.rows, al.train_batch):
                idx = np.sort(order[lo:lo + al.train_batch])
                batch = {k: v[idx] for k, v in arrays.items()}
                tokens = float(batch["response_mask"].sum())
                batch["num_tokens"] = np.full((al.train_batch,), max(tokens, 1.0) / self.parts.accum_steps, np.float32)
                self.state, m = self.parts.train_step(self.state, place_batch(batch, self.parts.train_sharding))
                rows_metrics.append(m)
        fetched = jax.device_get(rows_metrics)
        return {k: float(np.mean([float(r[k]) for r in fetched])) for k in fetched[0]}

    def step(self, step: int) -> dict:
        """Runs RL step `step` (0-based) and returns its metrics row."""
        t0 = time.perf_counter()
        problems = self.parts.schedule.batch(step)
        rb = self.parts.worker.collect(problems, self.parts.graphdef, self.state.params, self.parts.ref_params,
                                 step_seed(self.config.seed, step))
        t1 = time.perf_counter()
        row = dict(rb.metrics)
        row.update(self._update(rb, step))
        jax.block_until_ready(self.state.params)
        t2 = time.perf_counter()
        row["time_update"] = t2 - t1
        row["time_step"] = t2 - t0
        row["lr"] = float(self.parts.lr_schedule(int(jax.device_get(self.state.step)) - 1))
        row["optimizer_updates"] = float(jax.device_get(self.state.step))
        self.last_rollout = rb
        return row

    def train(self, hooks: Sequence[Callable[[int, dict], None]] = ()) -> RLResult:
        """Runs (or resumes) train.total_steps RL steps; exports HF at the end when export.enabled.

        hooks(step, row) run after each step (step counts completed steps).
        """
        c, tr = self.config, self.config.train
        ckpt = Checkpointer(io.join(self.workdir, CHECKPOINT_DIR), save_every=tr.save_every, keep=tr.keep,
                            async_save=tr.async_save)
        expected = {"data": self.parts.schedule.setup(), "seed": c.seed,
                    "updates_per_step": self.parts.updates_per_step}
        self.state, meta, resumed_from = builders.resume(ckpt, self.state, expected, self.workdir)
        start = int(meta.get("step", 0))
        if resumed_from is not None:
            self._load_reward_states(meta.get("reward_state", {}))
            logging.info("resumed RL from step %d", start)
        writer = MetricsWriter(self.workdir)
        writer.truncate_after(start)
        history, evals, step_seconds = [], [], []
        done = start
        rewards = "+".join(k for k in c.reward.keys() if c.reward[k].weight)  # weight 0: a monitor only
        name = f"rl[{rewards}]"

        def run_eval(step: int):
            if self.eval_problems is None or not len(self.eval_problems):
                return
            row = self.evaluate()
            evals.append(writer.write(step, row, split="eval"))
            writer.flush()
            progress.emit(progress.step_line(f"eval[{rewards}]", step, tr.total_steps, row))

        try:
            if start == 0 and tr.eval_at_start:
                run_eval(0)
            for step in range(start, tr.total_steps):
                row = self.step(step)
                done = step + 1
                history.append(writer.write(done, row))
                step_seconds.append(row["time_step"])
                if done % tr.log_every == 0 or done == tr.total_steps:
                    writer.flush()
                    progress.emit(progress.step_line(name, done, tr.total_steps, row, fields=RL_STEP_FIELDS,
                                                     tokens_per_s=row.get("tokens_per_s"),
                                                     seconds_per_step=float(np.median(step_seconds[-10:]))))
                if tr.eval_every and done % tr.eval_every == 0 and done != tr.total_steps:
                    run_eval(done)
                if ckpt.should_save(done) and done != tr.total_steps:
                    ckpt.save(done, self.state, self._meta(done))
                trigger = io.join(self.workdir, EXPORT_TRIGGER)
                if (c.export.every and done % c.export.every == 0) or io.exists(trigger):
                    self.export(io.join(self.workdir, f"{builders.EXPORT_DIR}_step{done}"))
                    if io.exists(trigger):
                        io.fs_and_path(trigger)[0].rm(io.fs_and_path(trigger)[1])
                for hook in hooks:
                    hook(done, row)
            final = tr.total_steps
            if start < final:
                run_eval(final)
            if start < final or ckpt.latest_step() != final:
                ckpt.save(final, self.state, self._meta(final), force=True)
        finally:
            ckpt.close()
            writer.close()
            if jax.process_index() == 0:
                try:
                    plot_reward_curve(self.workdir)
                except MissingExtra as e:  # the curve is a convenience; metrics.jsonl has the numbers
                    logging.warning("reward_curve.png not drawn: %s", e)
        if c.export.enabled and done == tr.total_steps:
            self.export()
        return RLResult(history=history, evals=evals, resumed_from=resumed_from, steps_done=done)

    def close(self) -> None:
        if self.parts.executor is not None and hasattr(self.parts.executor, "close"):
            self.parts.executor.close()
