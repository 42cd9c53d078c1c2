"""Hugging Face checkpoints <-> DecoderModel: name maps, streamed import, sharded export.

Import reads one tensor at a time (ranged reads on gs://, memmap locally), converts it to our
layout, and places it straight into its target sharding. Export gathers one parameter at a time
and streams it into sharded safetensors with an index, plus config.json and tokenizer files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Iterator, Optional

import fsspec
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh, SingleDeviceSharding

from acecoder_jax.checkpoints import hub
from acecoder_jax.checkpoints.safetensors_io import SafetensorsCheckpoint, join, write_sharded
from acecoder_jax.models.config import ModelConfig
from acecoder_jax.models.decoder import DecoderModel
from acecoder_jax.parallel import logical_sharding


@dataclasses.dataclass(frozen=True)
class TensorRule:
    """How one of our parameters maps to HF tensor(s).

    kind: "copy" (same shape), "flat" (HF stores it flattened), "T1"/"T2" (HF Linear weight
    [out, in]; our first 1 or 2 dims are the input dims). `{i}` in `hf` is the layer index.
    """

    hf: str
    kind: str = "copy"


_LAYER_RULES = {
    ("layers", "input_norm", "scale"): TensorRule("model.layers.{i}.input_layernorm.weight"),
    ("layers", "post_attn_norm", "scale"): TensorRule("model.layers.{i}.post_attention_layernorm.weight"),
    ("layers", "attn", "q_proj"): TensorRule("model.layers.{i}.self_attn.q_proj.weight", "T1"),
    ("layers", "attn", "k_proj"): TensorRule("model.layers.{i}.self_attn.k_proj.weight", "T1"),
    ("layers", "attn", "v_proj"): TensorRule("model.layers.{i}.self_attn.v_proj.weight", "T1"),
    ("layers", "attn", "o_proj"): TensorRule("model.layers.{i}.self_attn.o_proj.weight", "T2"),
    ("layers", "attn", "q_bias"): TensorRule("model.layers.{i}.self_attn.q_proj.bias", "flat"),
    ("layers", "attn", "k_bias"): TensorRule("model.layers.{i}.self_attn.k_proj.bias", "flat"),
    ("layers", "attn", "v_bias"): TensorRule("model.layers.{i}.self_attn.v_proj.bias", "flat"),
    ("layers", "attn", "q_norm", "scale"): TensorRule("model.layers.{i}.self_attn.q_norm.weight"),
    ("layers", "attn", "k_norm", "scale"): TensorRule("model.layers.{i}.self_attn.k_norm.weight"),
    ("layers", "mlp", "gate_proj"): TensorRule("model.layers.{i}.mlp.gate_proj.weight", "T1"),
    ("layers", "mlp", "up_proj"): TensorRule("model.layers.{i}.mlp.up_proj.weight", "T1"),
    ("layers", "mlp", "down_proj"): TensorRule("model.layers.{i}.mlp.down_proj.weight", "T1"),
}
_TOP_RULES = {
    ("embed",): TensorRule("model.embed_tokens.weight"),
    ("final_norm", "scale"): TensorRule("model.norm.weight"),
    ("lm_head",): TensorRule("lm_head.weight", "T1"),
}
# Reward heads as users have them: HF *ForSequenceClassification, or AceCodeRM's value head.
REWARD_LAYOUTS = {
    "score": {("reward_kernel",): TensorRule("score.weight", "T1")},
    "v_head": {("reward_kernel",): TensorRule("v_head.summary.weight", "T1"),
               ("reward_bias",): TensorRule("v_head.summary.bias")},
}
# Tensors some checkpoints carry that have no parameter here.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)
# Files of a tokenizer dir that are not tokenizer files (it is often a whole model dir).
_NOT_TOKENIZER_SUFFIXES = (".safetensors", ".bin", ".pt", ".index.json", ".msgpack", ".h5")
_NOT_TOKENIZER_NAMES = ("config.json", "generation_config.json")


def _hf_shape(shape: tuple[int, ...], kind: str) -> tuple[int, ...]:
    if kind == "copy":
        return shape
    if kind == "flat":
        return (int(np.prod(shape)),)
    k = int(kind[1:])
    return (int(np.prod(shape[k:])), int(np.prod(shape[:k])))


def to_ours(w: np.ndarray, shape: tuple[int, ...], kind: str, name: str) -> np.ndarray:
    expected = _hf_shape(shape, kind)
    if tuple(w.shape) != expected:
        raise ValueError(f"tensor {name!r} has shape {tuple(w.shape)}, but the config implies {expected}")
    return (w.T if kind.startswith("T") else w).reshape(shape)


def to_hf(x: np.ndarray, kind: str) -> np.ndarray:
    hf = _hf_shape(x.shape, kind)
    return x.reshape(hf[::-1]).T if kind.startswith("T") else x.reshape(hf)


def _rules(config: ModelConfig, head: str, reward_layout: Optional[str]) -> dict[tuple, TensorRule]:
    rules = dict(_TOP_RULES)
    if head != "lm" or config.tie_word_embeddings:
        del rules[("lm_head",)]
    rules.update(_LAYER_RULES)
    if head == "reward" and reward_layout:
        rules.update(REWARD_LAYOUTS[reward_layout])
    return rules


def _hf_names(rule: TensorRule, num_layers: int, prefix: str = "") -> list[str]:
    if "{i}" in rule.hf:
        return [prefix + rule.hf.format(i=i) for i in range(num_layers)]
    return [prefix + rule.hf]


def _flat_params(model_or_state):
    state = model_or_state if isinstance(model_or_state, nnx.State) else nnx.state(model_or_state, nnx.Param)
    return [(tuple(str(p) for p in path), var) for path, var in nnx.to_flat_state(state)]


# ---- import --------------------------------------------------------------------------------------


def _read_json(path: str) -> dict:
    try:
        with fsspec.open(path, "r") as f:
            return json.load(f)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{path} does not exist (not an HF checkpoint directory?)") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e


def load_hf(
    path: str,
    *,
    head: str = "lm",
    mesh: Optional[Mesh] = None,
    param_dtype: str = "float32",
    compute_dtype: Optional[str] = None,
    seed: int = 0,
    nonfinite: str = "warn",
    **runtime,
) -> tuple[DecoderModel, ModelConfig]:
    """Loads an HF checkpoint (a local dir, gs://, or a Hub id) into a (sharded) DecoderModel.

    head="reward" reads `score.weight` (HF *ForSequenceClassification) or `v_head.summary.*`
    (AceCodeRM); from a *ForCausalLM checkpoint it starts a fresh reward head (RM training).
    Every safetensors header is checked before a tensor is read; a NaN/inf in a weight warns
    naming the tensor (`nonfinite="error"` raises). `runtime` passes ModelConfig runtime fields
    (remat, scan_layers, attention_impl).
    """
    path = hub.resolve(path, hub.WEIGHT_FILES)
    hf_config = _read_json(join(path, "config.json"))
    config = ModelConfig.from_hf_dict(
        hf_config, param_dtype=param_dtype, compute_dtype=compute_dtype or param_dtype, **runtime
    )
    ckpt = SafetensorsCheckpoint(path, nonfinite=nonfinite)
    keys = ckpt.keys()
    # Backbones saved inside wrappers (e.g. `pretrained_model.model.*`) keep a prefix.
    embed_keys = [k for k in keys if k.endswith("model.embed_tokens.weight")]
    if not embed_keys:
        raise ValueError(f"{path}: missing tensor 'model.embed_tokens.weight'")
    prefix = min(embed_keys, key=len)[: -len("model.embed_tokens.weight")]

    reward_layout = None
    if head == "reward":
        if prefix + "score.weight" in keys or "score.weight" in keys:
            reward_layout = "score"
        elif any(k.endswith("v_head.summary.weight") for k in keys):
            reward_layout = "v_head"
        elif any(a.endswith("ForCausalLM") for a in hf_config.get("architectures") or []):
            logging.info("%s is a causal LM checkpoint: initialising a fresh reward head", path)
        else:
            raise ValueError(f"{path}: missing tensor 'score.weight' (or AceCodeRM 'v_head.summary.weight')")

    rules = _rules(config, head, reward_layout)

    def names_for(rule: TensorRule) -> list[str]:
        if rule.hf.startswith(("score.", "v_head.")):  # heads sit beside the backbone, any prefix
            return [next((k for k in sorted(keys) if k.endswith(rule.hf)), rule.hf)]
        return _hf_names(rule, config.num_layers, prefix)

    wanted = {path_: names_for(rule) for path_, rule in rules.items()}
    used = {n for names in wanted.values() for n in names}

    abstract = nnx.eval_shape(lambda: DecoderModel(config, head=head, mesh=mesh, rngs=nnx.Rngs(seed)))
    graphdef, state = nnx.split(abstract)
    params = _flat_params(state)
    our_paths = {p for p, _ in params}
    missing = sorted(n for p in our_paths if p in wanted for n in wanted[p] if n not in keys)
    if missing:
        raise ValueError(f"{path}: missing tensor(s) {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    ignorable = {prefix + "lm_head.weight", "lm_head.weight"} if head == "reward" or config.tie_word_embeddings else set()
    unexpected = sorted(k for k in keys - used - ignorable if not k.endswith(_IGNORED_SUFFIXES))
    if unexpected:
        raise ValueError(f"{path}: unexpected tensor(s) {unexpected[:8]} for {config.model_type} head={head}")

    dtype = jnp.dtype(param_dtype)
    fresh = None
    new_values = {}
    for p, var in params:
        shape = tuple(var.get_value().shape)
        axes = var.get_metadata().get("axes")
        sharding = logical_sharding(axes, shape, mesh) if mesh is not None else SingleDeviceSharding(jax.devices()[0])
        if p in wanted:
            names = wanted[p]
            rule = rules[p]
            if len(names) == 1:
                host = to_ours(ckpt.read(names[0]), shape, rule.kind, names[0]).astype(dtype)
            else:
                host = np.empty(shape, dtype)
                for i, n in enumerate(names):
                    host[i] = to_ours(ckpt.read(n), shape[1:], rule.kind, n)
        else:  # reward head absent from the checkpoint: fresh init (bias: HF score layers have none)
            if fresh is None:
                fresh = dict(_flat_params(DecoderModel(config.replace(num_layers=1, vocab_size=8), head="reward",
                                                       rngs=nnx.Rngs(seed))))
            host = np.asarray(fresh[p].get_value()).astype(dtype)
        new_values[p] = jax.make_array_from_callback(shape, sharding, lambda idx, h=host: h[idx])
        del host
    for p, var in params:
        var.set_value(new_values[p])
    return nnx.merge(graphdef, state), config


# ---- export --------------------------------------------------------------------------------------


def _gather(x: jax.Array) -> np.ndarray:
    if x.is_fully_addressable:
        return np.asarray(jax.device_get(x))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def export_hf(
    model: DecoderModel,
    config: Optional[ModelConfig],
    out_dir: str,
    *,
    tokenizer_dir: Optional[str] = None,
    dtype: Optional[str] = None,
    max_shard_bytes: int = 2 << 30,
) -> str:
    """Writes an HF checkpoint: sharded safetensors + index + config.json (+ tokenizer files).

    Policies (head="lm") load with AutoModelForCausalLM; reward models with
    AutoModelForSequenceClassification (num_labels=1). HF's score layer has no bias: a non-zero
    reward bias is dropped with a warning (it shifts every reward equally; rankings are unchanged).
    Every process must call this (gathers are collective); process 0 writes.
    """
    config = config or model.config
    head = model.head
    dtype = jnp.dtype(dtype or config.param_dtype)
    rules = _rules(config, head, "score" if head == "reward" else None)
    params = [(p, v) for p, v in _flat_params(model) if p in rules]
    if head == "reward":
        bias = float(_gather(model.reward_bias[...])[0])
        if bias != 0.0:
            logging.warning("export_hf: dropping reward bias %.4g (HF score layers have none)", bias)

    entries, plan = [], []
    for p, var in params:
        rule = rules[p]
        shape = tuple(var.get_value().shape)
        names = _hf_names(rule, config.num_layers)
        one_shape = shape[1:] if len(names) > 1 else shape
        for n in names:
            entries.append((n, dtype, _hf_shape(one_shape, rule.kind)))
        plan.append((var, rule, names))

    def produce() -> Iterator[tuple[str, np.ndarray]]:
        for var, rule, names in plan:
            host = _gather(var.get_value()).astype(dtype)
            if len(names) == 1:
                yield names[0], to_hf(host, rule.kind)
            else:
                for i, n in enumerate(names):
                    yield n, to_hf(host[i], rule.kind)

    if jax.process_index() != 0:
        for _ in produce():
            pass
        return out_dir
    write_sharded(out_dir, entries, produce, max_shard_bytes=max_shard_bytes, metadata={"format": "pt"})
    hf_config = config.to_hf_dict(head=head, dtype=dtype.name)
    with fsspec.open(join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config, f, indent=2)
    if tokenizer_dir:
        fs, root = fsspec.core.url_to_fs(tokenizer_dir)
        for src in fs.ls(root, detail=False):
            name = src.rstrip("/").rsplit("/", 1)[-1]
            if fs.isfile(src) and not name.endswith(_NOT_TOKENIZER_SUFFIXES) and name not in _NOT_TOKENIZER_NAMES:
                with fs.open(src, "rb") as fi, fsspec.open(join(out_dir, name), "wb") as fo:
                    fo.write(fi.read())
    return out_dir
