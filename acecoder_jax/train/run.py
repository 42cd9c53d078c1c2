"""A training run from an ml_collections config: what launch/train_rm.py and launch/train_lm.py run.

config -> (multi-host init, mesh, tokenizer, datasets, model from an HF checkpoint or a preset,
AdamW + warmup/cosine) -> the shared loop -> HF export. The resolved config, data stats and rejects
are written into the workdir, so a run directory says how it was made. Rerunning with the same
workdir resumes from the latest checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Optional

import jax

from acecoder_jax import builders
from acecoder_jax.builders import EXPORT_DIR
from acecoder_jax.data import io
from acecoder_jax.errors import ConfigError
from acecoder_jax.models.init import build_model
from acecoder_jax.parallel import initialize_multihost
from acecoder_jax.train import data as train_data
from acecoder_jax.train.loop import LoopOptions, TrainResult, train
from acecoder_jax.train.objectives import objective as make_objective

DATA_STATS_FILE = "data_stats.json"


def _load_datasets(config, tokenizer, workdir: str, objective_name: str):
    d = config.data
    if not d.train:
        raise ConfigError("config.data.train is empty: give --config.data.train=FILES (comma-separated paths or globs)")

    def load(spec: str, rejects: str):
        kw = dict(max_length=d.max_length, truncation=d.truncation,
                  buckets=train_data.length_buckets(d.max_length, d.num_buckets),
                  rejects_path=io.join(workdir, rejects) if jax.process_index() == 0 else None,
                  cache_dir=train_data.token_cache_dir(d.get("token_cache", "")))
        if objective_name == "bradley_terry":
            return train_data.load_pair_dataset(spec, tokenizer, **kw)
        return train_data.load_sft_dataset(spec, tokenizer, template=d.template, **kw)

    train_set = load(d.train, "rejects_train.jsonl")
    stats = {"train": train_set.stats.as_dict()}
    eval_set = None
    if d.eval:
        eval_set = load(d.eval, "rejects_eval.jsonl")
        stats["eval"] = eval_set.stats.as_dict()
    elif d.eval_fraction > 0:
        train_set, eval_set = train_set.split_holdout(d.eval_fraction, config.seed, by=d.get("eval_split", "example"))
    if len(train_set) == 0:
        raise ValueError(f"no usable training records in {d.train} (see rejects_train.jsonl): {stats['train']}")
    stats["train_examples"] = len(train_set)
    stats["eval_examples"] = len(eval_set) if eval_set is not None else 0
    return train_set, eval_set, stats


def run_training(config, workdir: str, *, objective_name: Optional[str] = None,
                 allow_config_change: bool = False) -> TrainResult:
    """Runs (or resumes) the training described by `config` in `workdir`; exports HF at the end.
    A workdir holding a run with another config is refused unless `allow_config_change`."""
    objective_name = objective_name or config.objective
    if config.objective != objective_name:
        raise ConfigError(f"config.objective={config.objective!r} but this entry point trains {objective_name!r}")
    initialize_multihost()
    builders.start_run(config, workdir, allow_config_change=allow_config_change)
    mesh = builders.mesh_from(config)
    tokenizer = builders.tokenizer_from(config.model)

    objective_ = make_objective(objective_name, **config.loss.to_dict())
    train_set, eval_set, stats = _load_datasets(config, tokenizer, workdir, objective_name)

    t = config.train
    micro = t.micro_batch or t.global_batch
    if t.global_batch % micro:
        raise ValueError(f"train.global_batch={t.global_batch} is not a multiple of train.micro_batch={micro}")
    schedule = train_data.BatchSchedule(train_set, t.global_batch, seed=config.seed)
    total = t.total_steps or max(1, math.floor(t.epochs * schedule.steps_per_epoch))
    eval_schedule = None
    if eval_set is not None:
        eval_batch = min(t.eval_batch or t.global_batch, len(eval_set))
        eval_schedule = train_data.BatchSchedule(eval_set, eval_batch, seed=config.seed, shuffle=False)
    stats.update(total_steps=total, steps_per_epoch=schedule.steps_per_epoch, accum_steps=t.global_batch // micro)
    if jax.process_index() == 0:
        io.write_json(io.join(workdir, DATA_STATS_FILE), stats)
    logging.info("data: %s", json.dumps(stats))

    model, model_config = build_model(config.model, head=objective_.head, mesh=mesh, tokenizer=tokenizer,
                                      seed=config.seed)
    optimizer = builders.optimizer_from(config.optim, total)
    options = LoopOptions(total_steps=total, accum_steps=t.global_batch // micro, log_every=t.log_every,
                          eval_every=t.eval_every, eval_batches=t.eval_batches, save_every=t.save_every,
                          keep=t.keep, async_save=t.async_save, progress=t.progress, seed=config.seed)
    result = train(model, optimizer.tx, objective_, schedule, workdir, options, mesh=mesh, eval_schedule=eval_schedule,
                   lr_schedule=optimizer.lr_schedule)
    if config.export.enabled:
        builders.export_model(result.model, model_config, tokenizer, config.export.dir or io.join(workdir, EXPORT_DIR),
                              config.export.dtype)
    return result
