"""Random initialisation directly into the target sharding (no full host copy)."""

from __future__ import annotations

from typing import Optional

import jax
from flax import nnx
from jax.sharding import Mesh

from acecoder_jax.errors import ConfigError
from acecoder_jax.models.config import ModelConfig
from acecoder_jax.models.decoder import DecoderModel
from acecoder_jax.parallel import param_shardings


def init_model(config: ModelConfig, *, head: str = "lm", mesh: Optional[Mesh] = None, seed: int = 0) -> DecoderModel:
    def make():
        return DecoderModel(config, head=head, mesh=mesh, rngs=nnx.Rngs(seed))

    if mesh is None:
        return make()
    graphdef, abstract_state = nnx.split(nnx.eval_shape(make))
    shardings = param_shardings(abstract_state, mesh)
    state = jax.jit(lambda: nnx.state(make()), out_shardings=shardings)()
    return nnx.merge(graphdef, state)


def build_model(model_cfg, *, head: str, mesh: Optional[Mesh], tokenizer, seed: int, what: str = "config.model"):
    """(DecoderModel, ModelConfig) from a model block (config_blocks.model_config): an HF checkpoint
    (init='hf') or a preset with random weights (init='preset'), checked against the tokenizer's
    vocabulary. `what` names the block in errors."""
    from acecoder_jax.models.config import preset

    runtime = dict(remat=model_cfg.remat, scan_layers=model_cfg.scan_layers)
    if model_cfg.init == "hf":
        if not model_cfg.hf_path:
            raise ConfigError(f"{what}.init='hf' needs {what}.hf_path (a local dir, gs:// or a "
                              f"Hugging Face Hub id), or use --{what}.init=preset")
        from acecoder_jax.checkpoints.hf import load_hf

        model, config = load_hf(model_cfg.hf_path, head=head, mesh=mesh, param_dtype=model_cfg.param_dtype,
                                compute_dtype=model_cfg.compute_dtype, seed=seed,
                                nonfinite=model_cfg.get("nonfinite_weights", "warn"), **runtime)
    elif model_cfg.init == "preset":
        config = preset(model_cfg.preset, param_dtype=model_cfg.param_dtype, compute_dtype=model_cfg.compute_dtype,
                        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                        bos_token_id=tokenizer.bos_token_id, **runtime)
        model = init_model(config, head=head, mesh=mesh, seed=seed)
    else:
        raise ConfigError(f"{what}.init={model_cfg.init!r}; expected 'hf' or 'preset'")
    if len(tokenizer) > config.vocab_size:
        raise ValueError(f"tokenizer has {len(tokenizer)} tokens but the model's vocab_size is {config.vocab_size}")
    return model, config
