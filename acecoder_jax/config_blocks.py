"""Config pieces shared by the files in configs/ (each stays a readable, self-contained recipe).

The policy/reward-model block and the tiny-CPU training overrides are the same for the LM, RM and
RL trainers; the variant lookup is the same for every config file.
"""
from __future__ import annotations

from typing import Callable

import ml_collections

from acecoder_jax.errors import ConfigError, unknown_choice


def model_config() -> ml_collections.ConfigDict:
    """The `model` block: what to load and how to run it (see models.build_model)."""
    m = ml_collections.ConfigDict()
    m.init = "hf"  # hf: load hf_path (the RM gives a *ForCausalLM a fresh reward head) | preset
    m.hf_path = ""
    m.preset = "tiny"
    m.param_dtype = "float32"
    m.compute_dtype = "bfloat16"
    m.remat = "full"
    m.scan_layers = True
    return m


def execution_config(**overrides) -> ml_collections.ConfigDict:
    """The `execution` block: where programs run (acecoder_jax.execution documents each field)."""
    e = ml_collections.ConfigDict()
    e.backend = "embedded"  # embedded (a sandbox pool on this host) | queue (remote pools, launch/pool)
    e.uri = ""  # queue: gs://bucket/prefix of the work queue
    e.num_workers = 0  # embedded: 0 = one per core
    e.timeout_s = 10.0  # default wall limit per program
    e.memory_mb = 0  # default memory limit per program (0: the sandbox's)
    e.batch_timeout_s = 3600.0  # queue: how long one batch may take
    e.idle_timeout_s = 300.0  # queue: no result and no worker heartbeat for this long fails the batch (0: off)
    e.preimport = ()  # embedded: modules the pool's zygotes import once (empty: the sandbox's default set)
    e.update(overrides)
    return e


# Old spellings of fields, and where they live now: an override naming one fails with this hint.
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


def select_variant(variants: dict[str, Callable[[], ml_collections.ConfigDict]], variant: str,
                   name: str) -> ml_collections.ConfigDict:
    if variant not in variants:
        raise ConfigError(unknown_choice(f"{name} config variant", variant, variants))
    return variants[variant]()
