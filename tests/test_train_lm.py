"""LM fine-tuning: the chunked response-only loss against a full-logits numpy reference, SFT data
(loss mask = response tokens), accumulation with a global token count, learning, and the launch
script end to end with an HF export that transformers loads."""

import json
import logging
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acecoder_jax import parallel as P
from acecoder_jax.train import objectives as O
from acecoder_jax.data import io
from acecoder_jax.models import init_model, preset
from acecoder_jax.parallel import make_mesh
from acecoder_jax.train import data as D
from acecoder_jax.train import loop as L
from acecoder_jax.train.lm_loss import add_global_denominator, response_lm_loss
from acecoder_jax.train.metrics import read_metrics
from acecoder_jax.train.optimizer import adamw
from acecoder_jax.train.step import init_train_state, make_train_step
from tests.train_fixtures import (CACHE_ENV, jax_cache, read_scalars, sft_records,  # noqa: F401 (fixtures)
                                  tok_dir, tokenizer)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKETS = (48,)


@pytest.fixture(scope="module")
def sft_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("sft") / "sft.jsonl")
    io.write_jsonl(path, sft_records(64))
    return path


def np_reference(logits, ids, mask, loss_mask):
    """Mean NLL of ids[t] under logits[t-1] over positions with loss_mask[t] = 1 (full logits)."""
    logits = np.asarray(logits, np.float64)[:, :-1]
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    nll = -np.take_along_axis(logp, ids[:, 1:, None], axis=-1)[..., 0]
    w = (loss_mask[:, 1:] * mask[:, 1:]).astype(np.float64)
    return (nll * w).sum() / w.sum()


@pytest.mark.parametrize("chunk", [1, 5, 16, 512])
def test_chunked_loss_matches_full_logits_on_response_tokens_only(chunk):
    model = init_model(preset("tiny"), head="lm", seed=0)
    rng = np.random.RandomState(0)
    b, t = 3, 16
    ids = rng.randint(3, 500, (b, t)).astype(np.int32)
    mask = np.ones((b, t), np.int32)
    mask[1, :5] = 0  # left padding
    mask[2, :9] = 0
    loss_mask = np.zeros((b, t), np.int32)
    loss_mask[0, 10:] = 1
    loss_mask[1, 12:] = 1
    loss_mask[2, 14:] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "loss_mask": loss_mask}
    loss, metrics = response_lm_loss(model, batch, chunk=chunk)
    want = np_reference(model(ids, mask), ids, mask, loss_mask)
    np.testing.assert_allclose(float(loss), want, rtol=2e-5)
    assert float(metrics["tokens"]) == loss_mask[:, 1:].sum()
    # the same tokens scored on every position give a different number: the mask is what counts
    all_tokens = float(response_lm_loss(model, dict(batch, loss_mask=mask), chunk=chunk)[0])
    np.testing.assert_allclose(all_tokens, np_reference(model(ids, mask), ids, mask, mask), rtol=2e-5)
    assert abs(all_tokens - float(loss)) > 1e-3
    # a target inside the response region moves the loss
    changed = ids.copy()
    changed[0, 12] = (changed[0, 12] + 1) % 500 + 3
    assert float(response_lm_loss(model, dict(batch, input_ids=changed), chunk=chunk)[0]) != float(loss)
    grads = jax.grad(lambda m: response_lm_loss(m, batch, chunk=chunk)[0])(model)
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))


def test_loss_gradient_matches_unchunked():
    from flax import nnx

    model = init_model(preset("tiny"), head="lm", seed=1)
    rng = np.random.RandomState(1)
    ids = rng.randint(3, 500, (2, 12)).astype(np.int32)
    mask = np.ones_like(ids)
    loss_mask = np.zeros_like(ids)
    loss_mask[:, 6:] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "loss_mask": loss_mask}

    def full(m):
        logits = m(ids, mask)[:, :-1]
        logp = jax.nn.log_softmax(logits, -1)
        nll = -jnp.take_along_axis(logp, ids[:, 1:, None], -1)[..., 0]
        w = loss_mask[:, 1:]
        return jnp.sum(nll * w) / jnp.sum(w)

    g_full = nnx.state(nnx.grad(full)(model))
    g_chunk = nnx.state(nnx.grad(lambda m: response_lm_loss(m, batch, chunk=4)[0])(model))
    for a, b in zip(jax.tree.leaves(g_full), jax.tree.leaves(g_chunk)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6)


def test_sft_loss_mask_covers_exactly_the_response(tmp_path, tokenizer):
    recs = sft_records(4) + [{"messages": [{"role": "user", "content": "hi"}]},
                             {"prompt": "p", "response": ""}, {"nothing": 1}]
    path = str(tmp_path / "sft.jsonl")
    io.write_jsonl(path, recs)
    ds = D.load_sft_dataset(path, tokenizer, max_length=64, rejects_path=str(tmp_path / "rej.jsonl"))
    assert len(ds) == 4 and ds.stats.as_dict()["reasons"] == {"bad_record": 3}
    assert len(io.read_jsonl(str(tmp_path / "rej.jsonl"))) == 3
    batch = ds.batch(range(4))
    for i, r in enumerate(recs[:4]):
        resp = tokenizer.decode(batch["input_ids"][i][batch["loss_mask"][i] == 1])
        assert resp.startswith(r["response"]) and resp[len(r["response"]):].strip() == "<|im_end|>"
        prompt = tokenizer.decode(batch["input_ids"][i][(batch["attention_mask"][i] == 1) & (batch["loss_mask"][i] == 0)])
        assert r["prompt"] in prompt and r["response"] not in prompt.split(r["prompt"])[-1]
    # plain template: prompt + response + EOS; left truncation keeps the response
    plain = D.load_sft_dataset(path, tokenizer, max_length=8, template="plain", truncation="left")
    ids, n_prompt = plain.examples[0]
    assert len(ids) <= 8 and tokenizer.decode(ids[n_prompt:]).startswith(recs[0]["response"])
    dropped = D.load_sft_dataset(path, tokenizer, max_length=8, template="plain", truncation="drop")
    assert dropped.stats.reasons["too_long"] == len(plain) - len(dropped)
    with pytest.raises(ValueError, match="truncation"):
        D.load_sft_dataset(path, tokenizer, max_length=8, truncation="middle")


def test_accumulation_with_global_token_count_equals_big_batch(tokenizer, sft_file):
    ds = D.load_sft_dataset(sft_file, tokenizer, max_length=48, buckets=BUCKETS)
    host = ds.batch(range(16))
    assert len(set(host["loss_mask"].sum(1))) > 1  # uneven response lengths: a plain mean would differ
    mesh = make_mesh((-1, 1, 1))
    obj = O.objective("lm", chunk=16)
    out = []
    for accum in (1, 4):
        model = init_model(preset("tiny"), head="lm", mesh=mesh, seed=0)
        opt = adamw(1e-3, 10, clip_norm=None)
        graphdef, state = init_train_state(model, opt)
        state = P.replicate_rest(state, mesh)
        sharding = P.batch_sharding(mesh, 16)
        step = make_train_step(graphdef, obj.loss_fn, opt, state_sharding=jax.tree.map(lambda x: x.sharding, state),
                               batch_sharding=sharding, accum_steps=accum)
        _, metrics = step(state, P.place_batch(add_global_denominator(host, accum), sharding))
        out.append((float(metrics["loss"]), float(metrics["grad_norm"])))
    print("loss/grad_norm accum=1 vs 4", out)
    np.testing.assert_allclose(out[1], out[0], rtol=1e-5)


def test_lm_loss_falls_on_a_learnable_task(tmp_path, tokenizer, sft_file, caplog):
    ds = D.load_sft_dataset(sft_file, tokenizer, max_length=48, buckets=BUCKETS)
    model = init_model(preset("tiny"), head="lm", seed=0)
    steps = 30
    with caplog.at_level(logging.INFO):
        result = L.train(model, adamw(3e-3, steps, warmup_steps=2), O.objective("lm", chunk=16),
                         D.BatchSchedule(ds, 16, seed=0), str(tmp_path),
                         L.LoopOptions(total_steps=steps, log_every=1, progress=False))
    # one readable line per logged step (logged, as nobody watches a terminal here), with the
    # numbers metrics.jsonl holds
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("train[lm] step ")]
    assert len(lines) == steps, lines[:3]
    rows = read_metrics(str(tmp_path), "train")
    for line, row in zip(lines, rows):
        assert line.startswith(f"train[lm] step {row['step']}/{steps}  loss {row['loss']:.4f}  "), line
        assert f"tok_acc {row['token_accuracy']:.3f}" in line and " tok/s  " in line and " eta " in line
        assert row["tokens_per_s"] > 0 and row["examples_per_s"] > 0
    losses = [r["loss"] for r in result.history]
    print("lm loss", [round(x, 3) for x in losses])
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    assert result.history[-1]["token_accuracy"] > result.history[0]["token_accuracy"]


@pytest.mark.slow
def test_train_lm_launch_end_to_end(tmp_path, tok_dir, sft_file, jax_cache):
    import torch
    import transformers

    workdir = tmp_path / "run"
    cmd = [sys.executable, os.path.join(REPO, "launch", "train_lm.py"),
           f"--config={os.path.join(REPO, 'configs', 'lm.py')}:cpu_tiny", f"--config.model.tokenizer={tok_dir}",
           f"--config.data.train={sft_file}", "--config.train.total_steps=10", "--config.train.save_every=5",
           "--config.train.eval_every=5", "--config.data.max_length=48", "--config.data.num_buckets=1",
           "--config.optim.lr=3e-3", f"--workdir={workdir}"]
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=jax_cache, **CACHE_ENV)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    config = json.loads((workdir / "config.json").read_text())
    assert config["objective"] == "lm" and config["data"]["max_length"] == 48
    rows = read_metrics(str(workdir))
    assert [r["step"] for r in rows if r["split"] == "train"] == list(range(1, 11))
    assert [r["step"] for r in rows if r["split"] == "eval"] == [5, 10]
    assert {"train/loss", "train/token_accuracy", "eval/loss", "train/lr"} <= set(read_scalars(str(workdir / "tensorboard")))
    assert sorted(os.listdir(workdir / "checkpoints")) == ["10", "5"]

    # the export is a causal LM transformers loads, and it carries the trained weights: its NLL on
    # the training responses is below that of the untrained initial model exported the same way
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(workdir / "hf")).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(workdir / "hf"))
    from acecoder_jax.models import export_hf
    from acecoder_jax.tokenization import load_tokenizer

    cfg = preset("tiny", pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    export_hf(init_model(cfg, head="lm", seed=0), cfg, str(tmp_path / "init"))
    hf0 = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "init")).eval()
    ds = D.load_sft_dataset(sft_file, load_tokenizer(tok_dir), max_length=48)

    def nll(m):
        total, count = 0.0, 0
        for ids, n_prompt in ds.examples[:16]:
            with torch.no_grad():
                logp = torch.log_softmax(m(input_ids=torch.tensor([ids])).logits[0, :-1].float(), -1)
            target = torch.tensor(ids[1:])
            picked = logp[torch.arange(len(ids) - 1), target][n_prompt - 1:]
            total, count = total - float(picked.sum()), count + len(picked)
        return total / count

    trained, initial = nll(hf), nll(hf0)
    print("exported LM response NLL: trained", trained, "initial", initial)
    assert trained < initial - 0.5
    assert rows[-2]["loss"] == pytest.approx(trained, rel=0.3)
