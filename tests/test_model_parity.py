"""Logit / reward parity with PyTorch `transformers`, HF import of sharded files, export roundtrip."""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest
import transformers

from acecoder_jax.models import ModelConfig, export_hf, load_hf
from tests.hf_fixtures import FAMILIES, left_padded_batch, make_hf_model, torch_forward

TOL = 1e-4


def _max_diff(ours, ref, mask):
    return float(np.abs(np.asarray(ours) - ref)[mask.astype(bool)].max())


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tied", [False, True])
def test_lm_logit_parity_left_padded(tmp_path, family, tied):
    hf = make_hf_model(family, tied=tied)
    hf.save_pretrained(tmp_path, max_shard_size="40KB")  # several shards + index
    assert os.path.exists(tmp_path / "model.safetensors.index.json")
    model, config = load_hf(str(tmp_path))
    assert config.tie_word_embeddings == tied
    ids, mask = left_padded_batch()
    diff = _max_diff(model(ids, mask), torch_forward(hf, ids, mask), mask)
    print(f"{family} tied={tied} lm max|diff|={diff:.2e}")
    assert diff <= TOL


@pytest.mark.parametrize("family", FAMILIES)
def test_left_padding_gives_unpadded_logits(tmp_path, family):
    make_hf_model(family).save_pretrained(tmp_path)
    model, _ = load_hf(str(tmp_path))
    ids, mask = left_padded_batch()
    padded = np.asarray(model(ids, mask))
    for b in range(ids.shape[0]):
        keep = mask[b].astype(bool)
        alone = np.asarray(model(ids[b : b + 1, keep], mask[b : b + 1, keep]))[0]
        assert np.abs(alone - padded[b, keep]).max() <= 1e-5


@pytest.mark.parametrize("family", FAMILIES)
def test_reward_parity_with_sequence_classification(tmp_path, family):
    hf = make_hf_model(family, seqcls=True)
    hf.save_pretrained(tmp_path)
    model, _ = load_hf(str(tmp_path), head="reward")
    ids, mask = left_padded_batch()
    ours = np.asarray(model(ids, mask))
    ref = torch_forward(hf, ids, mask)[:, 0]
    diff = float(np.abs(ours - ref).max())
    print(f"{family} reward max|diff|={diff:.2e}")
    assert ours.shape == (ids.shape[0],) and diff <= TOL


def test_acecoderm_value_head_layout(tmp_path):
    """AceCodeRM checkpoints: causal-LM backbone + v_head.summary.{weight,bias}."""
    from acecoder_jax.checkpoints.safetensors_io import SafetensorsCheckpoint, write_sharded

    hf = make_hf_model("qwen2", seqcls=True)
    src = tmp_path / "seqcls"
    hf.save_pretrained(src)
    tensors = {k: np.asarray(SafetensorsCheckpoint(str(src)).read(k)) for k in SafetensorsCheckpoint(str(src)).keys()}
    w = tensors.pop("score.weight")
    tensors["v_head.summary.weight"] = w
    tensors["v_head.summary.bias"] = np.array([0.75], np.float32)
    dst = tmp_path / "acecoderm"
    entries = [(k, v.dtype, v.shape) for k, v in tensors.items()]
    write_sharded(str(dst), entries, lambda: iter(tensors.items()), max_shard_bytes=60_000)
    cfg = json.loads((src / "config.json").read_text())
    cfg["architectures"] = ["AceCodeRM"]
    (dst / "config.json").write_text(json.dumps(cfg))
    model, _ = load_hf(str(dst), head="reward")
    ids, mask = left_padded_batch()
    ref = torch_forward(hf, ids, mask)[:, 0] + 0.75
    assert np.abs(np.asarray(model(ids, mask)) - ref).max() <= TOL


def test_reward_head_starts_fresh_from_causal_lm(tmp_path):
    make_hf_model("qwen2").save_pretrained(tmp_path)
    model, _ = load_hf(str(tmp_path), head="reward")
    ids, mask = left_padded_batch()
    r = np.asarray(model(ids, mask))
    assert r.shape == (4,) and np.isfinite(r).all() and np.std(r) > 0


@pytest.mark.parametrize("family", ["qwen2", "llama3", "qwen3"])
@pytest.mark.parametrize("head", ["lm", "reward"])
def test_export_then_transformers_load(tmp_path, family, head):
    hf = make_hf_model(family, seqcls=head == "reward", tied=family == "qwen2" and head == "lm")
    hf.save_pretrained(tmp_path / "src")
    model, config = load_hf(str(tmp_path / "src"), head=head)
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    (tok_dir / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    out = tmp_path / "export"
    export_hf(model, config, str(out), tokenizer_dir=str(tok_dir), max_shard_bytes=50_000)
    files = os.listdir(out)
    assert "model.safetensors.index.json" in files and "tokenizer_config.json" in files
    assert sum(f.endswith(".safetensors") for f in files) > 1
    ids, mask = left_padded_batch()
    if head == "lm":
        back = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
        ref = torch_forward(back, ids, mask)
        assert _max_diff(model(ids, mask), ref, mask) <= TOL
    else:
        back = transformers.AutoModelForSequenceClassification.from_pretrained(out).eval()
        assert back.config.num_labels == 1 and back.config.pad_token_id is not None
        ref = torch_forward(back, ids, mask)[:, 0]
        assert np.abs(np.asarray(model(ids, mask)) - ref).max() <= TOL
    # and our own loader reads our export back
    again, _ = load_hf(str(out), head=head)
    np.testing.assert_allclose(np.asarray(again(ids, mask)), np.asarray(model(ids, mask)), atol=1e-6)


def test_config_json_roundtrip():
    hf = make_hf_model("llama3").config.to_dict()
    cfg = ModelConfig.from_hf_dict(hf)
    assert cfg.rope_scaling["rope_type"] == "llama3" and cfg.rope_theta == 500000.0
    assert ModelConfig.from_hf_dict(cfg.to_hf_dict()) == cfg


def test_causal_query_blocks_match_full_attention(tmp_path):
    make_hf_model("qwen2").save_pretrained(tmp_path)
    ids, mask = left_padded_batch()
    full, _ = load_hf(str(tmp_path), attention_block_q=0)
    blocked, _ = load_hf(str(tmp_path), attention_block_q=4)  # 12 tokens -> 3 query blocks
    assert _max_diff(blocked(ids, mask), np.asarray(full(ids, mask)), mask) <= 1e-5


def test_bf16_params_and_compute_stay_close(tmp_path):
    hf = make_hf_model("qwen2")
    hf.save_pretrained(tmp_path)
    model, _ = load_hf(str(tmp_path), param_dtype="bfloat16", compute_dtype="bfloat16")
    assert model.embed[...].dtype == jnp.bfloat16
    ids, mask = left_padded_batch()
    out = np.asarray(model(ids, mask))
    ref = torch_forward(hf, ids, mask)
    assert out.dtype == np.float32 and _max_diff(out, ref, mask) < 0.1
