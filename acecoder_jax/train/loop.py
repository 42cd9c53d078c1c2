"""The one trainer loop, shared by every objective (Bradley-Terry reward model, LM fine-tuning).

batch schedule -> host batch -> sharded global arrays -> jitted step (donated state) -> metrics;
held-out eval every N steps; orbax checkpoints every N steps and at the end. The checkpoint meta
holds the data position and seed, and batches are a pure function of (seed, step), so a resumed
run sees exactly the batches, and produces exactly the losses, that an uninterrupted one would.

Objectives are registered by name: a loss function over (model, batch), the model head it needs,
and an optional host-side batch preparation that depends on the accumulation factor.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable, Optional, Sequence

import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from acecoder_jax import progress
from acecoder_jax.builders import resume
from acecoder_jax.checkpoints.orbax import Checkpointer
from acecoder_jax.data import io
from acecoder_jax.parallel import batch_sharding, place_batch, replicate_rest
from acecoder_jax.train.data import BatchSchedule
from acecoder_jax.train.metrics import MetricsWriter
from acecoder_jax.train.objectives import Objective
from acecoder_jax.train.step import TrainState, init_train_state, make_eval_step, make_train_step

CHECKPOINT_DIR = "checkpoints"


# ---- options and result ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    total_steps: int
    accum_steps: int = 1
    log_every: int = 10
    eval_every: int = 0  # 0: eval only at the end (when an eval set is given)
    eval_batches: int = 0  # 0: the whole held-out set (full batches)
    save_every: int = 0  # 0: only the final save
    keep: int = 3
    async_save: bool = True
    progress: bool = True
    donate: bool = True
    seed: int = 0

    def __post_init__(self):
        for name in ("total_steps", "accum_steps", "log_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"LoopOptions.{name} must be positive, got {getattr(self, name)}")
        for name in ("eval_every", "eval_batches", "save_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"LoopOptions.{name} must be >= 0, got {getattr(self, name)}")


@dataclasses.dataclass
class TrainResult:
    model: nnx.Module  # the trained model (the input model's arrays were donated)
    state: TrainState
    history: list[dict]  # train rows logged by this run
    evals: list[dict]  # eval rows logged by this run
    resumed_from: Optional[int]


def _mean_rows(rows: Sequence[dict]) -> dict:
    return {k: float(np.mean([float(r[k]) for r in rows])) for k in rows[0]}


# ---- the loop --------------------------------------------------------------------------------


def evaluate(eval_step, params, schedule: BatchSchedule, objective_: Objective, sharding, limit: int = 0) -> dict:
    rows = []
    for batch in schedule.eval_batches(limit):
        rows.append(jax.device_get(eval_step(params, place_batch(objective_.prepare(batch, 1), sharding))))
    if not rows:
        raise ValueError("held-out set has no full batch")
    return _mean_rows(rows)


def train(
    model: nnx.Module,
    optimizer: optax.GradientTransformation,
    objective_: Objective,
    schedule: BatchSchedule,
    workdir: str,
    options: LoopOptions,
    *,
    mesh: Optional[Mesh] = None,
    eval_schedule: Optional[BatchSchedule] = None,
    lr_schedule: Optional[optax.Schedule] = None,
    hooks: Sequence[Callable[[int, TrainState, dict], None]] = (),
) -> TrainResult:
    """Trains `model` for options.total_steps global steps, resuming from <workdir>/checkpoints.

    hooks(step, state, row) run after each step (step counts completed steps; row holds that
    step's metrics only on logging steps, else is empty).
    """
    if schedule.global_batch % options.accum_steps:
        raise ValueError(f"global batch {schedule.global_batch} is not divisible by accum_steps={options.accum_steps}")
    if getattr(model, "head", objective_.head) != objective_.head:
        raise ValueError(f"objective {objective_.name!r} needs a model with head={objective_.head!r}, "
                         f"got head={model.head!r}")
    io.makedirs(workdir)
    graphdef, state = init_train_state(model, optimizer)
    state = replicate_rest(state, mesh)
    state_sharding = jax.tree.map(lambda x: x.sharding, state)
    b_sharding = batch_sharding(mesh, schedule.global_batch)
    e_sharding = batch_sharding(mesh, eval_schedule.global_batch) if eval_schedule is not None else None

    ckpt = Checkpointer(io.join(workdir, CHECKPOINT_DIR), save_every=options.save_every, keep=options.keep,
                        async_save=options.async_save)
    state, _, resumed_from = resume(ckpt, state, {"data": schedule.setup(), "seed": options.seed}, workdir)
    start = int(jax.device_get(state.step))
    if resumed_from is not None:
        logging.info("resumed from step %d", start)

    writer = MetricsWriter(workdir)
    writer.truncate_after(start)
    train_step = make_train_step(graphdef, objective_.loss_fn, optimizer, state_sharding=state_sharding,
                                 batch_sharding=b_sharding, accum_steps=options.accum_steps, donate=options.donate)
    eval_step = make_eval_step(graphdef, objective_.loss_fn, state_sharding=state_sharding,
                               batch_sharding=e_sharding) if eval_schedule is not None else None

    def meta(step: int) -> dict:
        return {"step": step, "data": schedule.position(step), "seed": options.seed, "objective": objective_.name}

    def run_eval(step: int):
        row = evaluate(eval_step, state.params, eval_schedule, objective_, e_sharding, options.eval_batches)
        evals.append(writer.write(step, row, split="eval"))
        writer.flush()
        progress.emit(progress.step_line(f"eval[{objective_.name}]", step, options.total_steps, row))

    history: list[dict] = []
    evals: list[dict] = []
    pending: list[dict] = []
    bar = progress.bar(total=options.total_steps, initial=start, desc=f"train[{objective_.name}]", unit="step",
                       enabled=options.progress)
    t_last, examples_since, tokens_since, steps_since = time.perf_counter(), 0, 0, 0
    step = start
    try:
        for step in range(start, options.total_steps):
            host_batch = schedule.batch(step)
            tokens_since += int(sum(np.sum(host_batch[k]) for k in objective_.token_masks if k in host_batch))
            batch = objective_.prepare(host_batch, options.accum_steps)
            state, metrics = train_step(state, place_batch(batch, b_sharding))
            pending.append(metrics)
            examples_since += schedule.global_batch
            steps_since += 1
            done = step + 1
            row: dict = {}
            if done % options.log_every == 0 or done == options.total_steps:
                fetched = _mean_rows(jax.device_get(pending))
                pending = []
                elapsed = max(time.perf_counter() - t_last, 1e-9)
                fetched["examples_per_s"] = examples_since / elapsed
                fetched["tokens_per_s"] = tokens_since / elapsed
                if lr_schedule is not None:
                    fetched["lr"] = float(lr_schedule(step))
                progress.emit(progress.step_line(f"train[{objective_.name}]", done, options.total_steps, fetched,
                                                 tokens_per_s=fetched["tokens_per_s"],
                                                 seconds_per_step=elapsed / steps_since))
                t_last, examples_since, tokens_since, steps_since = time.perf_counter(), 0, 0, 0
                row = writer.write(done, fetched)
                history.append(row)
                bar.set_postfix({k: f"{v:.4g}" for k, v in fetched.items()
                                 if k in ("loss", "accuracy", "token_accuracy")}, refresh=False)
            if ckpt.should_save(done) and done != options.total_steps:
                ckpt.save(done, state, meta(done))
            if eval_step is not None and options.eval_every and done % options.eval_every == 0:
                run_eval(done)
            bar.update(1)
            for hook in hooks:
                hook(done, state, row)
        final = options.total_steps
        if eval_step is not None and start < final and not (options.eval_every and final % options.eval_every == 0):
            run_eval(final)
        if start < final or ckpt.latest_step() != final:
            ckpt.save(final, state, meta(final), force=True)
    finally:
        bar.close()
        ckpt.close()
        writer.close()
    return TrainResult(model=nnx.merge(graphdef, state.params), state=state, history=history, evals=evals,
                       resumed_from=resumed_from)
