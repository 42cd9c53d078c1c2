"""Config pieces shared by the files in configs/ (each stays a readable, self-contained recipe).

The policy/reward-model block and the tiny-CPU training overrides are the same for the LM, RM and
RL trainers; the variant lookup is the same for every config file.
"""
from __future__ import annotations

from typing import Callable

import ml_collections

from acecoder_jax.errors import ConfigError, unknown_choice


def _block(fields: dict, overrides: dict, name: str) -> ml_collections.ConfigDict:
    """A block with these fields; an override must name one of them (a recipe adds its own
    extra fields after, in plain sight, so each shared field is defined here only)."""
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigError(f"the {name} block has no field(s) {', '.join(unknown)}; its fields: {', '.join(fields)}")
    return ml_collections.ConfigDict({**fields, **overrides})


def model_config(**overrides) -> ml_collections.ConfigDict:
    """A `model` block: what to load and how to run it (models.init.build_model). Every model a
    config names (policy, reference, reward model, test writer) is one of these."""
    return _block(dict(
        init="hf",  # hf: load hf_path (the RM gives a *ForCausalLM a fresh reward head) | preset
        hf_path="",  # local dir, gs:// or a Hugging Face Hub id
        tokenizer="",  # "": the tokenizer files of hf_path
        preset="tiny",  # init=preset: models.config.PRESETS, random weights
        param_dtype="float32",
        compute_dtype="bfloat16",
        remat="full",  # none | full | dots (models.config.REMAT_POLICIES)
        scan_layers=True,
        nonfinite_weights="warn",  # a NaN/inf in a loaded weight: warn (naming the tensor) | error | ignore
    ), overrides, "model")


def inference_model_config(**overrides) -> ml_collections.ConfigDict:
    """A model block for a model that is only run forward (sampled or scored): bf16 weights,
    no remat, unrolled layers (the sampler's CPU kernels need them)."""
    return model_config(**{**dict(param_dtype="bfloat16", compute_dtype="bfloat16", remat="none",
                                  scan_layers=False), **overrides})


def reward_model_config(**overrides) -> ml_collections.ConfigDict:
    """The `reward_model` block of best-of-N and RM-reward RL: a model block plus how it scores."""
    scoring = {k: overrides.pop(k) for k in ("batch_size", "max_length") if k in overrides}
    block = inference_model_config(**overrides)
    block.batch_size = scoring.get("batch_size", 8)  # texts per scoring forward
    block.max_length = scoring.get("max_length", 2048)  # longer texts keep their last tokens
    return block


def mesh_config(shape=(1, -1, 1)) -> ml_collections.ConfigDict:
    """A `mesh` block: (data, fsdp, tensor) device counts; -1 takes the remaining devices."""
    return ml_collections.ConfigDict({"shape": tuple(shape)})


def optim_config(**overrides) -> ml_collections.ConfigDict:
    """The `optim` block: AdamW, linear warmup, cosine to lr * min_lr_ratio (builders.optimizer_from)."""
    return _block(dict(lr=1e-5, warmup_ratio=0.0, min_lr_ratio=0.1, weight_decay=0.0, b1=0.9, b2=0.95,
                       clip_norm=1.0), overrides, "optim")


# The trainers' loop fields, shared by the LM/RM and RL `train` blocks.
_LOOP_FIELDS = dict(
    total_steps=0,  # LM/RM: 0 = epochs * steps per epoch
    eval_every=200,
    save_every=200,
    keep=3,  # checkpoints kept
    async_save=True,
    log_every=10,
)
# What only the LM/RM trainers have. global_batch: examples per optimizer step; micro_batch: per
# forward/backward (the ratio is the accumulation); eval_batch 0: global_batch; eval_batches 0:
# the whole held-out set; progress: a bar on a terminal only.
_SUPERVISED_FIELDS = dict(global_batch=64, micro_batch=16, epochs=1.0, eval_batch=0, eval_batches=0, progress=True)


def train_config(**overrides) -> ml_collections.ConfigDict:
    """The RL trainer's `train` block: the loop fields (it adds eval_at_start)."""
    return _block(_LOOP_FIELDS, overrides, "train")


def supervised_train_config(**overrides) -> ml_collections.ConfigDict:
    """The LM/RM trainers' `train` block: the loop fields plus batch sizes and epochs."""
    return _block({**_LOOP_FIELDS, **_SUPERVISED_FIELDS}, overrides, "train")


def export_config(**overrides) -> ml_collections.ConfigDict:
    """The `export` block: the HF checkpoint written at the end of training."""
    return _block(dict(enabled=True, dir="", dtype="bfloat16"), overrides, "export")  # dir "": <workdir>/hf


def execution_config(**overrides) -> ml_collections.ConfigDict:
    """The `execution` block: where programs run (acecoder_jax.execution documents each field)."""
    e = ml_collections.ConfigDict()
    e.backend = "embedded"  # embedded (a sandbox pool on this host) | queue (remote pools, launch/pool)
    e.uri = ""  # queue: gs://bucket/prefix of the work queue
    e.num_workers = 0  # embedded: 0 = one per core
    e.timeout_s = 10.0  # default wall limit per program
    e.memory_mb = 0  # default memory limit per program (0: the sandbox's)
    e.batch_timeout_s = 3600.0  # queue: how long one batch may take
    e.idle_timeout_s = 300.0  # queue: no result and no live worker for this long fails the batch (0: off)
    e.outage_s = 600.0  # queue: storage unreachable this long (retried with backoff, logged once) fails the batch
    e.preimport = ()  # embedded: modules the pool's zygotes import once (empty: the sandbox's default set)
    e.update(overrides)
    return e


# Old spellings that map one-to-one onto a field: an override naming one is applied to the new
# field, with a deprecation warning (cli._apply_aliases). Matched as a path or a path's tail.
ALIASES = {
    "tokenizer": "model.tokenizer",
    "reward.reward_model.path": "reward_model.hf_path",
    "reward.reward_model.batch_size": "reward_model.batch_size",
    "reward.reward_model.max_length": "reward_model.max_length",
    "reward.reward_model.param_dtype": "reward_model.param_dtype",
    "reward.reward_model.compute_dtype": "reward_model.compute_dtype",
    "synthesis.sampler.hf_path": "synthesis.sampler.model.hf_path",
    "synthesis.sampler.tokenizer": "synthesis.sampler.model.tokenizer",
    "synthesis.sampler.param_dtype": "synthesis.sampler.model.param_dtype",
    "synthesis.sampler.mesh_shape": "synthesis.sampler.mesh.shape",
    "tokenizer.vocab_size": "tokenizer_training.vocab_size",
}

# Old spellings with no one-to-one successor: an override naming one fails with this hint.
RENAMED_FIELDS = {
    "execution.executor": "execution.backend and execution.uri",
    "executor": "execution.backend and execution.uri",
    "num_workers": "execution.num_workers",
    "reward.tests.executor": "execution.backend",
    "reward.tests.queue_uri": "execution.uri",
    "reward.tests.num_workers": "execution.num_workers",
    "reward.tests.queue_timeout_s": "execution.batch_timeout_s",
    "reward.tests.queue_idle_timeout_s": "execution.idle_timeout_s",
}


def cpu_model(c: ml_collections.ConfigDict) -> None:
    """Small-model CPU settings: fp32 compute, no remat, unrolled layers, data-parallel mesh."""
    c.model.compute_dtype = "float32"
    c.model.remat = "none"
    c.model.scan_layers = False
    c.mesh.shape = (-1, 1, 1)


def cpu_tiny_training(c: ml_collections.ConfigDict) -> None:
    """The trainers' `cpu_tiny` variant: a random tiny model, 20 short steps (tests, CPU demos)."""
    c.model.init = "preset"
    c.model.preset = "tiny"
    cpu_model(c)
    c.data.eval_fraction = 0.25
    c.data.max_length = 128
    c.optim.lr = 1e-3
    c.train.global_batch = 16
    c.train.micro_batch = 8
    c.train.total_steps = 20
    c.train.eval_every = 10
    c.train.save_every = 10
    c.train.log_every = 1
    c.export.dtype = "float32"


# Fields that say where or how visibly a run executes, not what it computes: a change of one is not
# a change of the run (data-stage fingerprints and workdir checks ignore them).
OPERATIONAL_FIELDS = ("progress", "execution.backend", "execution.uri", "execution.num_workers",
                      "execution.batch_timeout_s", "execution.idle_timeout_s", "execution.outage_s",
                      "execution.preimport", "data.token_cache")


def _flat(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tree}


def config_changes(old: dict, new: dict) -> list[str]:
    """`config.a.b: old -> new` for every field that differs, operational fields left out."""
    a, b = _flat(old or {}), _flat(new or {})

    def operational(path: str) -> bool:
        return any(path == f or path.endswith("." + f) for f in OPERATIONAL_FIELDS)

    return [f"config.{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and not operational(k)]


def shown_changes(changes: list[str], limit: int = 8) -> str:
    """The first `limit` changes, joined for an error message."""
    more = f"; and {len(changes) - limit} more" if len(changes) > limit else ""
    return "; ".join(changes[:limit]) + more


def select_variant(variants: dict[str, Callable[[], ml_collections.ConfigDict]], variant: str,
                   name: str) -> ml_collections.ConfigDict:
    if variant not in variants:
        raise ConfigError(unknown_choice(f"{name} config variant", variant, variants))
    return variants[variant]()
