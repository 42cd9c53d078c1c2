"""Small builders that runs are assembled from: the LM/RM trainer (train/run.py), the RL trainer,
best-of-N, evaluation and the demo all compose these, so each part is built one way.

Parts with a home of their own are built there: the model from a config's `model` block
(models.init.build_model), the executor from an `execution` block (execution.build_executor),
the RM scorer (rm.scoring.load_reward_scorer). This module holds the rest: run directory and
config snapshot, mesh, tokenizer, optimizer and schedule, checkpoint resume, HF export.
"""
from __future__ import annotations

import json
import logging
import posixpath
from typing import Any, NamedTuple, Optional

import jax
import optax

from acecoder_jax.config_blocks import config_changes, shown_changes
from acecoder_jax.data import io
from acecoder_jax.errors import ConfigError

CONFIG_FILE = "config.json"  # the resolved config of a run, in its workdir
EXPORT_DIR = "hf"


class _DropOrbaxInfo(logging.Filter):
    """orbax logs every save step at INFO through absl; keep its warnings, drop the chatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or "/orbax/" not in record.pathname


class WorkdirConfigChanged(ConfigError):
    """A workdir holds a run made with another config."""


def holds_a_run(workdir: str) -> bool:
    """Whether `workdir` holds anything a run computed (anything besides config snapshots)."""
    fs, path = io.fs_and_path(workdir)
    names = [posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False)]
    return any(not (n == CONFIG_FILE or (n.startswith("config.") and n.endswith(".json"))) for n in names)


def config_changes_in(workdir: str, snapshot: dict) -> list[str]:
    """How `snapshot` differs from the config of the run `workdir` holds ([] when it holds none)."""
    path = io.join(workdir, CONFIG_FILE)
    if not (io.exists(path) and holds_a_run(workdir)):
        return []
    return config_changes(io.read_json(path), snapshot)


def start_run(config, workdir: str, *, allow_config_change: bool = False) -> None:
    """The run directory with the resolved config in it (so a workdir says how it was made).

    A workdir that already holds a run (anything besides its config snapshots: checkpoints,
    metrics) made with another config is refused, naming each changed field (operational ones,
    such as progress bars or where programs run, do not count), unless `allow_config_change`: then
    the run goes on with the new config and the old one is kept as config.<n>.json beside it. A
    run that failed before it wrote anything (a missing tokenizer, say) leaves nothing to protect.
    """
    if not workdir:
        raise ValueError("workdir is required")
    for handler in logging.getLogger().handlers + logging.getLogger("absl").handlers:
        if not any(isinstance(f, _DropOrbaxInfo) for f in handler.filters):
            handler.addFilter(_DropOrbaxInfo())
    io.makedirs(workdir)
    path = io.join(workdir, CONFIG_FILE)
    text = config.to_json_best_effort(indent=2, sort_keys=True) + "\n"
    changes = config_changes_in(workdir, json.loads(text))
    if changes and not allow_config_change:
        raise WorkdirConfigChanged(f"{workdir} holds a run made with another config ({shown_changes(changes)}); "
                                   "pass --allow_config_change to go on with the new one, or use another --workdir")
    if changes and jax.process_index() == 0:
        n = 1
        while io.exists(io.join(workdir, f"config.{n}.json")):
            n += 1
        io.write_text(io.join(workdir, f"config.{n}.json"), io.read_text(path))
        logging.warning("%s: config changed (%s); the old one is kept as config.%d.json", workdir,
                        "; ".join(changes), n)
    if jax.process_index() == 0:
        io.write_text(path, text)


def mesh_from(config):
    """The device mesh of config.mesh.shape (data, fsdp, tensor; -1 takes the remaining devices)."""
    from acecoder_jax.parallel import make_mesh

    return make_mesh(tuple(config.mesh.shape))


def tokenizer_from(model, what: str = "config.model"):
    """The tokenizer of a model block: model.tokenizer, else the one shipped with model.hf_path
    (`what` names the block in errors)."""
    from acecoder_jax.tokenization import load_tokenizer, tokenizer_path

    return load_tokenizer(tokenizer_path(model.tokenizer, model.hf_path, f"{what}.tokenizer", f"{what}.hf_path"))


class Optimizer(NamedTuple):
    tx: optax.GradientTransformation
    lr_schedule: optax.Schedule  # the learning rate after n updates, for logging


def optimizer_from(optim, total_updates: int) -> Optimizer:
    """AdamW with warmup (optim.warmup_ratio of the updates) then cosine to optim.min_lr_ratio."""
    from acecoder_jax.train.optimizer import adamw, warmup_cosine

    warmup = int(round(optim.warmup_ratio * total_updates))
    tx = adamw(optim.lr, total_updates, warmup_steps=warmup, min_lr_ratio=optim.min_lr_ratio,
               weight_decay=optim.weight_decay, b1=optim.b1, b2=optim.b2, clip_norm=optim.clip_norm or None)
    return Optimizer(tx, warmup_cosine(optim.lr, total_updates, warmup, optim.min_lr_ratio))


class Resumed(NamedTuple):
    state: Any
    meta: dict
    step: Optional[int]  # the checkpoint's step; None for a fresh run


def resume(checkpointer, state, expected: dict, workdir: str) -> Resumed:
    """Restore the latest checkpoint, if any, after checking that its meta matches `expected`
    (the data position, seed and whatever else a replay depends on): a mismatch raises, naming
    each differing field, since resuming would not replay the same run."""
    step = checkpointer.latest_step()
    if step is None:
        return Resumed(state, {}, None)
    state, meta = checkpointer.restore(state)
    diff = {}
    for key, want in expected.items():
        got = meta.get(key)
        if isinstance(want, dict):
            diff.update({f"{key}.{k}": (got.get(k) if isinstance(got, dict) else None, v) for k, v in want.items()
                         if (got.get(k) if isinstance(got, dict) else None) != v})
        elif got != want:
            diff[key] = (got, want)
    if diff:
        shown = "; ".join(f"{k}: saved {s!r}, now {n!r}" for k, (s, n) in diff.items())
        raise ValueError(f"checkpoint {step} under {workdir} was written by a different setup ({shown}): "
                         f"resuming would not replay the same run")
    return Resumed(state, meta, step)


def export_model(model, model_config, tokenizer, out_dir: str, dtype: Optional[str] = None) -> str:
    """An HF checkpoint of `model` (+ the tokenizer's files) in out_dir."""
    from acecoder_jax.models import export_hf
    from acecoder_jax.tokenization import save_tokenizer

    export_hf(model, model_config, out_dir, dtype=dtype or None)
    if jax.process_index() == 0:
        save_tokenizer(tokenizer, out_dir)
    logging.info("exported the %s model to %s", getattr(model, "head", "lm"), out_dir)
    return out_dir
