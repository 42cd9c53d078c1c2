"""ModelConfig: the architecture of a decoder plus how to run it, and its HF config.json mapping."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

import fsspec

# model_type in config.json -> (CausalLM class, SequenceClassification class)
HF_ARCHITECTURES = {
    "qwen2": ("Qwen2ForCausalLM", "Qwen2ForSequenceClassification"),
    "llama": ("LlamaForCausalLM", "LlamaForSequenceClassification"),
    "qwen3": ("Qwen3ForCausalLM", "Qwen3ForSequenceClassification"),
}
SUPPORTED_MODEL_TYPES = tuple(HF_ARCHITECTURES)
SUPPORTED_ROPE_TYPES = ("default", "linear", "llama3")
REMAT_POLICIES = ("none", "full", "dots", "dots_no_batch")


class UnsupportedArchitectureError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture (mirrors HF config.json) plus runtime choices (dtypes, remat, scan).

    Why over 150 lines: it is a field list plus the HF config.json mapping both ways, per family."""

    model_type: str = "qwen2"
    vocab_size: int = 32000
    hidden_size: int = 512
    intermediate_size: int = 1408
    num_layers: int = 8
    num_heads: int = 8
    num_kv_heads: int = 2
    head_dim: Optional[int] = None  # default hidden_size // num_heads
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: Optional[dict] = None  # {"rope_type": "llama3"|"linear", ...}
    max_position_embeddings: int = 32768
    tie_word_embeddings: bool = False
    attention_bias: bool = True  # q/k/v biases (Qwen2); o_proj never has one here
    qk_norm: bool = False  # Qwen3 per-head RMSNorm on q and k
    bos_token_id: Optional[int] = None
    eos_token_id: Any = None  # int or list of ints, as in HF
    pad_token_id: Optional[int] = None
    # runtime
    param_dtype: str = "float32"
    compute_dtype: str = "float32"
    remat: str = "none"
    scan_layers: bool = False
    attention_impl: Optional[str] = None  # None lets XLA choose; "cudnn" on GPUs
    attention_block_q: Optional[int] = None  # causal query blocks; None = auto (CPU only), 0 = off

    def __post_init__(self):
        if self.model_type not in HF_ARCHITECTURES:
            raise UnsupportedArchitectureError(
                f"unsupported architecture model_type={self.model_type!r}; supported: "
                f"{', '.join(SUPPORTED_MODEL_TYPES)}"
            )
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads={self.num_heads} not a multiple of num_kv_heads={self.num_kv_heads}")
        if self.remat not in REMAT_POLICIES:
            raise ValueError(f"remat={self.remat!r}; expected one of {REMAT_POLICIES}")
        rope_type = (self.rope_scaling or {}).get("rope_type", "default")
        if rope_type not in SUPPORTED_ROPE_TYPES:
            raise UnsupportedArchitectureError(
                f"unsupported rope_scaling type {rope_type!r}; supported: {', '.join(SUPPORTED_ROPE_TYPES)}"
            )

    def __hash__(self):  # rope_scaling is a dict; NNX keeps the config in static graph data
        return hash(json.dumps(dataclasses.asdict(self), sort_keys=True, default=str))

    @property
    def dim_per_head(self) -> int:
        return self.head_dim or self.hidden_size // self.num_heads

    def replace(self, **kw) -> "ModelConfig":
        return dataclasses.replace(self, **kw)

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        e = self.eos_token_id
        return () if e is None else tuple(e) if isinstance(e, (list, tuple)) else (int(e),)

    # ---- Hugging Face config.json --------------------------------------------------------------

    @classmethod
    def from_hf_dict(cls, d: dict, **runtime) -> "ModelConfig":
        model_type = d.get("model_type")
        if model_type not in HF_ARCHITECTURES:
            archs = d.get("architectures")
            raise UnsupportedArchitectureError(
                f"unsupported architecture model_type={model_type!r} (architectures={archs}); "
                f"supported model types: {', '.join(SUPPORTED_MODEL_TYPES)}"
            )
        if d.get("use_sliding_window"):
            raise UnsupportedArchitectureError("sliding-window attention (use_sliding_window=true) is not supported")
        # transformers>=5 writes rope_parameters; older files have rope_theta + rope_scaling.
        rope = dict(d.get("rope_parameters") or {})
        theta = rope.pop("rope_theta", d.get("rope_theta", 10000.0))
        scaling = d.get("rope_scaling") or (rope if rope.get("rope_type", "default") != "default" else None)
        if scaling is not None:
            scaling = dict(scaling)
            scaling["rope_type"] = scaling.get("rope_type", scaling.pop("type", "default"))
            scaling.pop("rope_theta", None)
            if scaling["rope_type"] == "default":
                scaling = None
        num_heads = d["num_attention_heads"]
        head_dim = d.get("head_dim")
        if head_dim == d["hidden_size"] // num_heads:
            head_dim = None
        return cls(
            model_type=model_type,
            vocab_size=d["vocab_size"],
            hidden_size=d["hidden_size"],
            intermediate_size=d["intermediate_size"],
            num_layers=d["num_hidden_layers"],
            num_heads=num_heads,
            num_kv_heads=d.get("num_key_value_heads") or num_heads,
            head_dim=head_dim,
            rms_norm_eps=d.get("rms_norm_eps", 1e-6),
            rope_theta=float(theta),
            rope_scaling=scaling,
            max_position_embeddings=d.get("max_position_embeddings", 32768),
            tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
            attention_bias=bool(d.get("attention_bias", model_type == "qwen2")),
            qk_norm=model_type == "qwen3",
            bos_token_id=d.get("bos_token_id"),
            eos_token_id=d.get("eos_token_id"),
            pad_token_id=d.get("pad_token_id"),
            **runtime,
        )

    def to_hf_dict(self, head: str = "lm", dtype: Optional[str] = None) -> dict:
        causal, seqcls = HF_ARCHITECTURES[self.model_type]
        d = {
            "architectures": [causal if head == "lm" else seqcls],
            "model_type": self.model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.dim_per_head,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": self.rope_scaling,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_dropout": 0.0,
            "use_cache": True,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "pad_token_id": self.pad_token_id,
            "torch_dtype": dtype or self.param_dtype,
        }
        if self.model_type == "qwen2":
            d["use_sliding_window"] = False
        if self.model_type in ("llama", "qwen3"):
            d["attention_bias"] = self.attention_bias
            d["mlp_bias"] = False
        if head == "reward":
            d["num_labels"] = 1
            d["id2label"] = {"0": "LABEL_0"}
            d["label2id"] = {"LABEL_0": 0}
            if d["pad_token_id"] is None:  # HF sequence classification needs it to find the last token
                eos = self.eos_token_ids
                d["pad_token_id"] = eos[0] if eos else 0
        return d

    @classmethod
    def from_hf_config_file(cls, path: str, **runtime) -> "ModelConfig":
        with fsspec.open(path, "r") as f:
            d = json.load(f)
        return cls.from_hf_dict(d, **runtime)


# Shapes of public checkpoints (the paper's backbones) and small configs for tests and demos.
PRESETS: dict[str, dict] = {
    "qwen2.5-coder-7b": dict(
        model_type="qwen2", vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_layers=28,
        num_heads=28, num_kv_heads=4, rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=False,
        attention_bias=True, max_position_embeddings=32768, eos_token_id=151643, bos_token_id=151643),
    "qwen2.5-coder-32b": dict(
        model_type="qwen2", vocab_size=152064, hidden_size=5120, intermediate_size=27648, num_layers=64,
        num_heads=40, num_kv_heads=8, rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=False,
        attention_bias=True, max_position_embeddings=32768, eos_token_id=151643, bos_token_id=151643),
    "qwen2.5-coder-1.5b": dict(
        model_type="qwen2", vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_layers=28,
        num_heads=12, num_kv_heads=2, rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=True,
        attention_bias=True, max_position_embeddings=32768, eos_token_id=151643, bos_token_id=151643),
    "llama-3.1-8b": dict(
        model_type="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_layers=32,
        num_heads=32, num_kv_heads=8, rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
        attention_bias=False, max_position_embeddings=131072, bos_token_id=128000,
        eos_token_id=[128001, 128008, 128009],
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192}),
    # ~1B Qwen2-shaped config used for GPU MFU / sampler figures.
    "bench-1b": dict(
        model_type="qwen2", vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_layers=16,
        num_heads=16, num_kv_heads=4, rope_theta=1e6, attention_bias=True),
    # The issue-fixed CPU benchmark config.
    "bench-cpu": dict(
        model_type="qwen2", vocab_size=32000, hidden_size=512, intermediate_size=1408, num_layers=8,
        num_heads=8, num_kv_heads=2, rope_theta=1e6, attention_bias=True),
    "tiny": dict(
        model_type="qwen2", vocab_size=512, hidden_size=64, intermediate_size=176, num_layers=2,
        num_heads=4, num_kv_heads=2, rope_theta=10000.0, attention_bias=True, max_position_embeddings=2048),
}


def preset(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **overrides})
