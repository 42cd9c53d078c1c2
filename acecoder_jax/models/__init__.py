"""Decoder models: config, NNX modules, HF import/export, sharded init."""

from acecoder_jax.models.config import PRESETS, ModelConfig, UnsupportedArchitectureError, preset
from acecoder_jax.models.decoder import DecoderModel, KVCache
from acecoder_jax.models.init import build_model, init_model


def load_hf(path, **kw):
    """See acecoder_jax.checkpoints.hf.load_hf."""
    from acecoder_jax.checkpoints.hf import load_hf as _load

    return _load(path, **kw)


def export_hf(model, config, out_dir, **kw):
    """See acecoder_jax.checkpoints.hf.export_hf."""
    from acecoder_jax.checkpoints.hf import export_hf as _export

    return _export(model, config, out_dir, **kw)


__all__ = ["ModelConfig", "PRESETS", "preset", "UnsupportedArchitectureError", "DecoderModel", "KVCache",
           "build_model", "init_model", "load_hf", "export_hf"]
