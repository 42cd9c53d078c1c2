"""Tiny random `transformers` checkpoints of every supported family, for parity tests."""

from __future__ import annotations

import numpy as np
import torch
import transformers

VOCAB = 160


def hf_config(family: str, *, tied: bool = False, seqcls: bool = False):
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  tie_word_embeddings=tied, pad_token_id=0, eos_token_id=1, bos_token_id=2, rms_norm_eps=1e-6)
    if family == "qwen2":
        return transformers.Qwen2Config(rope_theta=10000.0, **common)
    if family == "llama3":
        return transformers.LlamaConfig(
            rope_theta=500000.0, attention_bias=False,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 64},
            **common)
    if family == "qwen3":
        return transformers.Qwen3Config(head_dim=24, rope_theta=1e6, **common)  # head_dim != hidden/heads
    if family == "qwen2-mha":  # no GQA
        return transformers.Qwen2Config(**{**common, "num_key_value_heads": 4})
    raise KeyError(family)


FAMILIES = ("qwen2", "llama3", "qwen3", "qwen2-mha")


def make_hf_model(family: str, *, tied: bool = False, seqcls: bool = False, seed: int = 0):
    """A random model whose every parameter (biases and norms included) is non-trivial."""
    torch.manual_seed(seed)
    cfg = hf_config(family, tied=tied)
    if seqcls:
        cfg.num_labels = 1
        model = transformers.AutoModelForSequenceClassification.from_config(cfg)
    else:
        model = transformers.AutoModelForCausalLM.from_config(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
    return model.eval().float()


def left_padded_batch(seed: int = 0, batch: int = 4, length: int = 12):
    rng = np.random.RandomState(seed)
    ids = rng.randint(3, VOCAB, (batch, length))
    mask = np.ones_like(ids)
    for b, pad in enumerate([0, 3, 7, length - 1][:batch]):
        mask[b, :pad] = 0
    ids[mask == 0] = 0
    return ids, mask


def torch_forward(model, ids, mask):
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask))
    return out.logits.float().numpy()
