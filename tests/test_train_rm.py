"""Bradley-Terry reward-model training: loss/gradient vs numpy, learning on a learnable pair set,
exact resume, gradient accumulation, data rejects, and the launch script end to end."""

import json
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
from acecoder_jax.rm.loss import bradley_terry_loss
from acecoder_jax.train import data as D
from acecoder_jax.train import loop as L
from acecoder_jax.train.metrics import read_metrics
from acecoder_jax.train.optimizer import adamw, warmup_cosine
from acecoder_jax.train.step import init_train_state, make_train_step
from tests.train_fixtures import (CACHE_ENV, jax_cache, learnable_pairs, read_scalars,  # noqa: F401 (fixtures)
                                  tok_dir, tokenizer)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("pairs") / "pairs.jsonl")
    io.write_jsonl(path, learnable_pairs(96))
    return path


# ---- loss ------------------------------------------------------------------------------------


def np_bt(rc, rr, margin, center):
    d = rc - rr - margin
    loss = np.mean(np.logaddexp(0.0, -d)) + center * np.mean((rc + rr) ** 2)
    s = 1.0 / (1.0 + np.exp(-d))
    p = len(rc)
    g_common = -(1.0 - s) / p
    g_center = 2.0 * center * (rc + rr) / p
    return loss, g_common + g_center, -g_common + g_center


@pytest.mark.parametrize("margin,center", [(0.0, 0.0), (0.5, 0.0), (0.3, 0.01)])
def test_bt_loss_and_gradient_match_numpy(margin, center):
    rng = np.random.RandomState(0)
    rc, rr = rng.randn(32) * 2, rng.randn(32) * 2
    want_loss, want_gc, want_gr = np_bt(rc, rr, margin, center)

    def f(a, b):
        return bradley_terry_loss(a, b, margin=margin, center_coef=center)[0]

    loss = f(jnp.asarray(rc, jnp.float32), jnp.asarray(rr, jnp.float32))
    gc, gr = jax.grad(f, argnums=(0, 1))(jnp.asarray(rc, jnp.float32), jnp.asarray(rr, jnp.float32))
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(gc), want_gc, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.asarray(gr), want_gr, rtol=1e-4, atol=1e-7)
    _, m = bradley_terry_loss(jnp.asarray(rc), jnp.asarray(rr), margin=margin, center_coef=center)
    np.testing.assert_allclose(float(m["accuracy"]), np.mean(rc > rr))
    np.testing.assert_allclose(float(m["margin"]), np.mean(rc - rr), rtol=1e-5)


# ---- data ------------------------------------------------------------------------------------


def test_pair_dataset_rejects_and_batches(tmp_path, tokenizer):
    good = learnable_pairs(6)
    bad = [
        {"instruction": "q", "chosen": "", "rejected": "x"},
        {"instruction": "q", "chosen": "same", "rejected": "same"},
        {"instruction": "q", "chosen": "a", "rejected": "b", "chosen_pass_rate": 0.2, "rejected_pass_rate": 0.9},
        {"instruction": "q " * 300, "chosen": "a", "rejected": "b"},
    ]
    path = str(tmp_path / "p.jsonl")
    io.write_bytes(path, io.dumps_jsonl(good[:3] + bad) + b"{not json\n" + io.dumps_jsonl(good[3:]))
    rejects = str(tmp_path / "rejects.jsonl")
    ds = D.load_pair_dataset(path, tokenizer, max_length=64, truncation="drop", rejects_path=rejects)
    assert len(ds) == 6
    assert ds.stats.as_dict()["reasons"] == {"missing_field": 1, "identical_pair": 1, "pass_rate_order": 1,
                                             "too_long": 1, "malformed_json": 1}
    rows = io.read_jsonl(rejects)
    assert len(rows) == 5 and all(r["source"] == path and r["row"] > 0 for r in rows)
    batch = ds.batch([0, 1, 2])
    assert batch["chosen_ids"].shape == batch["rejected_ids"].shape
    assert batch["chosen_ids"].shape[1] in ds.buckets
    # left padded: every row ends with a real token; the pad id fills the left
    assert batch["chosen_mask"][:, -1].all() and batch["rejected_mask"][:, -1].all()
    text = tokenizer.decode(batch["chosen_ids"][0][batch["chosen_mask"][0] == 1])
    assert good[0]["chosen"] in text and good[0]["instruction"] in text


def test_pairs_stream_into_packed_rows_the_same_at_any_chunk_size(tokenizer, pairs_file, monkeypatch):
    """Records are read and tokenized a chunk at a time into one int32 buffer; the chunk size
    changes nothing, and subsets and hold-out splits share the buffer instead of copying it."""
    whole = D.load_pair_dataset(pairs_file, tokenizer, max_length=128)
    monkeypatch.setattr(D, "TOKENIZE_CHUNK", 5)
    chunked = D.load_pair_dataset(pairs_file, tokenizer, max_length=128)
    assert len(whole) == len(chunked) == 96 and whole.examples == chunked.examples
    assert whole.rows.tokens.dtype == np.int32 and whole.rows.nbytes == 4 * whole.rows.tokens.size + 8 * (2 * 96 + 1)
    train, held = chunked.split_holdout(0.25, seed=0)
    assert train.rows.tokens is chunked.rows.tokens and len(train) + len(held) == 96
    np.testing.assert_array_equal(train.batch([0, 1])["chosen_ids"], chunked.batch(train.index[:2])["chosen_ids"])


def test_token_cache_memory_maps_what_was_tokenized_and_notices_changed_files(tokenizer, pairs_file, tmp_path):
    cache = str(tmp_path / "cache")
    fresh = D.load_pair_dataset(pairs_file, tokenizer, max_length=128, cache_dir=cache,
                                rejects_path=str(tmp_path / "r1.jsonl"))
    again = D.load_pair_dataset(pairs_file, tokenizer, max_length=128, cache_dir=cache,
                                rejects_path=str(tmp_path / "r2.jsonl"))
    assert isinstance(again.rows.tokens, np.memmap) and again.examples == fresh.examples
    assert again.stats.as_dict() == fresh.stats.as_dict() and os.path.exists(tmp_path / "r2.jsonl")
    assert len(os.listdir(cache)) == 1
    D.load_pair_dataset(pairs_file, tokenizer, max_length=64, cache_dir=cache)  # other settings: another entry
    edited = str(tmp_path / "edited.jsonl")
    io.write_jsonl(edited, io.read_jsonl(pairs_file)[:10])
    assert len(D.load_pair_dataset(edited, tokenizer, max_length=128, cache_dir=cache)) == 10
    io.write_jsonl(edited, io.read_jsonl(pairs_file)[:12])  # same path, other content: not the cached set
    assert len(D.load_pair_dataset(edited, tokenizer, max_length=128, cache_dir=cache)) == 12
    assert len(os.listdir(cache)) == 4


def test_schedule_is_a_pure_function_of_seed_and_step(tokenizer, pairs_file):
    ds = D.load_pair_dataset(pairs_file, tokenizer, max_length=128)
    a, b = D.BatchSchedule(ds, 16, seed=3), D.BatchSchedule(ds, 16, seed=3)
    seen = np.concatenate([a.indices(s) for s in range(a.steps_per_epoch)])
    assert sorted(seen) == list(range(a.steps_per_epoch * 16))  # one epoch visits each example once
    for step in (0, 5, 6, 13):  # any order of asking gives the same batch
        np.testing.assert_array_equal(a.indices(step), b.indices(step))
    assert not np.array_equal(a.indices(0), a.indices(a.steps_per_epoch))  # next epoch reshuffles
    assert not np.array_equal(a.indices(0), D.BatchSchedule(ds, 16, seed=4).indices(0))
    with pytest.raises(ValueError, match="fewer than one global batch"):
        D.BatchSchedule(ds, 1000)


# ---- training --------------------------------------------------------------------------------


BUCKETS = (128,)  # one padded shape: one compile per step function


def _train(tokenizer, pairs_file, workdir, *, steps, accum=1, hooks=(), save_every=0, lr=1e-3, eval_every=0):
    ds = D.load_pair_dataset(pairs_file, tokenizer, max_length=128, buckets=BUCKETS)
    train, held = ds.split_holdout(0.25, seed=0)
    mesh = make_mesh((-1, 1, 1))
    model = init_model(preset("tiny"), head="reward", mesh=mesh, seed=0)
    opt = adamw(lr, steps, warmup_steps=2)
    options = L.LoopOptions(total_steps=steps, accum_steps=accum, log_every=1, eval_every=eval_every,
                            save_every=save_every, progress=False, async_save=True)
    return L.train(model, opt, O.objective("bradley_terry"), D.BatchSchedule(train, 16, seed=0), workdir, options,
                   mesh=mesh, eval_schedule=D.BatchSchedule(held, 8, shuffle=False),
                   lr_schedule=warmup_cosine(lr, steps, 2), hooks=hooks)


def test_loss_falls_and_accuracy_rises_on_learnable_pairs(tmp_path, tokenizer, pairs_file):
    result = _train(tokenizer, pairs_file, str(tmp_path), steps=24, eval_every=8)
    losses = [r["loss"] for r in result.history]
    acc = [r["accuracy"] for r in result.history]
    evals = [(r["step"], round(r["loss"], 4), r["accuracy"]) for r in result.evals]
    print("train loss", [round(x, 4) for x in losses])
    print("train accuracy", acc)
    print("held-out (step, loss, accuracy)", evals)
    assert np.mean(losses[:3]) > 0.5 and np.mean(losses[-3:]) < 0.1
    assert np.mean(losses[-3:]) < 0.2 * np.mean(losses[:3])
    assert np.mean(acc[:3]) < 0.8 and min(acc[-3:]) == 1.0
    assert result.evals[-1]["accuracy"] >= 0.9
    assert result.evals[-1]["loss"] < result.evals[0]["loss"]
    assert [r["step"] for r in result.evals] == [8, 16, 24]
    # metrics.jsonl and TensorBoard hold the same numbers
    rows = read_metrics(str(tmp_path), "train")
    assert [r["loss"] for r in rows] == losses
    tb = read_scalars(str(tmp_path / "tensorboard"))
    np.testing.assert_allclose([v for _, v in tb["train/loss"]], losses, rtol=1e-6)
    assert [s for s, _ in tb["eval/accuracy"]] == [8, 16, 24]


class Interrupt(Exception):
    pass


def test_resume_after_interruption_reproduces_losses_exactly(tmp_path, tokenizer, pairs_file):
    steps = 8
    full = _train(tokenizer, pairs_file, str(tmp_path / "full"), steps=steps, accum=2, save_every=3)

    def crash(step, state, row):
        if step == 5:  # after the step-3 checkpoint, before the step-6 one
            raise Interrupt

    with pytest.raises(Interrupt):
        _train(tokenizer, pairs_file, str(tmp_path / "cut"), steps=steps, accum=2, save_every=3, hooks=[crash])
    assert [r["step"] for r in read_metrics(str(tmp_path / "cut"), "train")] == [1, 2, 3, 4, 5]
    resumed = _train(tokenizer, pairs_file, str(tmp_path / "cut"), steps=steps, accum=2, save_every=3)
    assert resumed.resumed_from == 3
    assert [r["step"] for r in resumed.history] == [4, 5, 6, 7, 8]
    want = [r["loss"] for r in full.history]
    got = [r["loss"] for r in read_metrics(str(tmp_path / "cut"), "train")]
    print("uninterrupted", want)
    print("resumed      ", got)
    assert got == want  # bit-identical floats, steps 4..8 recomputed after the restore
    for a, b in zip(jax.tree.leaves(full.state.params), jax.tree.leaves(resumed.state.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # a finished run resumes into a no-op
    again = _train(tokenizer, pairs_file, str(tmp_path / "cut"), steps=steps, accum=2, save_every=3)
    assert again.resumed_from == steps and again.history == []


def test_resume_refuses_a_different_data_setup(tmp_path, tokenizer, pairs_file):
    _train(tokenizer, pairs_file, str(tmp_path), steps=2)
    ds = D.load_pair_dataset(pairs_file, tokenizer, max_length=128, buckets=BUCKETS)
    model = init_model(preset("tiny"), head="reward", seed=0)
    with pytest.raises(ValueError, match=r"different setup \(data\.\w+: saved"):
        L.train(model, adamw(1e-3, 4), O.objective("bradley_terry"), D.BatchSchedule(ds, 16, seed=1), str(tmp_path),
                L.LoopOptions(total_steps=4, progress=False))


def test_gradient_accumulation_equals_big_batch_step(tokenizer, pairs_file):
    ds = D.load_pair_dataset(pairs_file, tokenizer, max_length=128, buckets=BUCKETS)
    batch = ds.batch(range(16))
    mesh = make_mesh((-1, 1, 1))
    obj = O.objective("bradley_terry", margin=0.1, center_coef=0.01)
    params = []
    for accum in (1, 4):
        model = init_model(preset("tiny"), head="reward", mesh=mesh, seed=0)
        opt = adamw(1e-3, 10, clip_norm=None)
        graphdef, state = init_train_state(model, opt)
        state = P.replicate_rest(state, mesh)
        sharding = P.batch_sharding(mesh, 16)
        step = make_train_step(graphdef, obj.loss_fn, opt, state_sharding=jax.tree.map(lambda x: x.sharding, state),
                               batch_sharding=sharding, accum_steps=accum)
        state, metrics = step(state, P.place_batch(batch, sharding))
        params.append((jax.tree.leaves(state.params), float(metrics["loss"]), float(metrics["grad_norm"])))
    (p1, l1, g1), (p4, l4, g4) = params
    np.testing.assert_allclose(l4, l1, rtol=1e-5)
    np.testing.assert_allclose(g4, g1, rtol=1e-4)
    for a, b in zip(p1, p4):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=5e-6)  # Adam steps ~1e-3


def test_objective_and_head_must_agree(tmp_path, tokenizer, pairs_file):
    ds = D.load_pair_dataset(pairs_file, tokenizer, max_length=128)
    with pytest.raises(ValueError, match="head='reward'"):
        L.train(init_model(preset("tiny"), head="lm"), adamw(1e-3, 2), O.objective("bradley_terry"),
                D.BatchSchedule(ds, 16), str(tmp_path), L.LoopOptions(total_steps=2, progress=False))
    with pytest.raises(KeyError, match="unknown objective"):
        O.objective("dpo")


# ---- entry point -----------------------------------------------------------------------------


@pytest.mark.slow
def test_train_rm_launch_end_to_end(tmp_path, tok_dir, pairs_file, jax_cache):
    import torch
    import transformers

    workdir = tmp_path / "run"
    cmd = [sys.executable, os.path.join(REPO, "launch", "train_rm.py"),
           f"--config={os.path.join(REPO, 'configs', 'rm.py')}:cpu_tiny", f"--config.model.tokenizer={tok_dir}",
           f"--config.data.train={pairs_file}", "--config.train.total_steps=12", "--config.train.save_every=6",
           "--config.train.eval_every=6", "--config.data.num_buckets=1", f"--workdir={workdir}"]
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=jax_cache, **CACHE_ENV)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    config = json.loads((workdir / "config.json").read_text())
    assert config["objective"] == "bradley_terry" and config["train"]["total_steps"] == 12
    stats = json.loads((workdir / "data_stats.json").read_text())
    assert stats["train_examples"] + stats["eval_examples"] == 96 and stats["accum_steps"] == 2
    rows = read_metrics(str(workdir))
    assert [r["step"] for r in rows if r["split"] == "train"] == list(range(1, 13))
    assert [r["step"] for r in rows if r["split"] == "eval"] == [6, 12]
    assert "train/loss" in read_scalars(str(workdir / "tensorboard"))
    assert sorted(os.listdir(workdir / "checkpoints")) == ["12", "6"]

    # the exported RM loads in transformers and ranks held-out-style pairs it never saw
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(str(workdir / "hf")).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(workdir / "hf"))
    from acecoder_jax.prompts import reward_model_text

    fresh = learnable_pairs(16, seed=123)
    wins = 0
    for r in fresh:
        scores = []
        for side in ("chosen", "rejected"):
            ids = tok(reward_model_text(tok, r["instruction"], r[side]), add_special_tokens=False,
                      return_tensors="pt")["input_ids"]
            with torch.no_grad():
                scores.append(float(hf(input_ids=ids).logits[0, 0]))
        wins += scores[0] > scores[1]
    print("exported RM accuracy on fresh pairs", wins / len(fresh))
    assert wins / len(fresh) >= 0.8


def test_parquet_pairs_and_metrics_on_a_remote_filesystem(tokenizer):
    """Non-local paths (fsspec memory://, the same code path as gs://): parquet pairs in, metrics
    rewritten whole and TensorBoard events uploaded from a staging dir on flush."""
    import fsspec

    from acecoder_jax.data.schemas import pair_arrow_schema
    from acecoder_jax.train.metrics import MetricsWriter

    io.write_parquet("memory://bucket/pairs.parquet", learnable_pairs(20), schema=pair_arrow_schema())
    ds = D.load_pair_dataset("memory://bucket/pairs.parquet", tokenizer, max_length=128,
                             rejects_path="memory://bucket/rejects.jsonl")
    assert len(ds) == 20 and io.read_jsonl("memory://bucket/rejects.jsonl") == []

    writer = MetricsWriter("memory://bucket/run")
    for step in (1, 2, 3):
        writer.write(step, {"loss": jnp.float32(1.0 / step)})
    writer.flush()
    assert [r["step"] for r in read_metrics("memory://bucket/run")] == [1, 2, 3]
    writer.truncate_after(2)
    writer.write(3, {"loss": 0.25})
    writer.close()
    assert [(r["step"], r["loss"]) for r in read_metrics("memory://bucket/run")] == [(1, 1.0), (2, 0.5), (3, 0.25)]
    fs = fsspec.filesystem("memory")
    events = fs.ls("/bucket/run/tensorboard", detail=False)
    assert len(events) == 1 and fs.size(events[0]) > 0
    with pytest.raises(ValueError, match="scalar"):
        MetricsWriter("memory://bucket/run2", tensorboard=False).write(1, {"loss": np.zeros(3)})


def test_paper_configs_hold_the_paper_recipe():
    import importlib.util

    spec = importlib.util.spec_from_file_location("rm_config", os.path.join(REPO, "configs", "rm.py"))
    cfg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cfg)
    for variant, max_length in (("paper_7b", 2048), ("paper_32b", 1024)):
        c = cfg.get_config(variant)
        assert (c.objective, c.optim.lr, c.optim.warmup_ratio, c.train.epochs, c.train.global_batch,
                c.data.max_length, c.train.total_steps) == ("bradley_terry", 1e-5, 0.1, 1.0, 128, max_length, 0)
        assert c.model.init == "hf" and c.train.global_batch % c.train.micro_batch == 0
    with pytest.raises(ValueError, match="unknown rm config variant"):
        cfg.get_config("paper_70b")


def test_bf16_compute_trains(tmp_path, tokenizer, pairs_file):
    ds = D.load_pair_dataset(pairs_file, tokenizer, max_length=128, buckets=BUCKETS)
    model = init_model(preset("tiny", compute_dtype="bfloat16"), head="reward", seed=0)
    result = L.train(model, adamw(1e-3, 10, warmup_steps=1), O.objective("bradley_terry"),
                     D.BatchSchedule(ds, 16, seed=0), str(tmp_path), L.LoopOptions(total_steps=10, progress=False,
                                                                                   log_every=1))
    losses = [r["loss"] for r in result.history]
    print("bf16 loss", [round(x, 3) for x in losses])
    assert all(np.isfinite(losses)) and np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    assert jax.tree.leaves(result.state.params)[0].dtype == jnp.float32  # params stay fp32


@pytest.mark.slow
def test_run_training_from_an_hf_causal_lm_checkpoint(tmp_path, tok_dir, pairs_file):
    """model.init='hf': a *ForCausalLM checkpoint gets a fresh reward head, trains, exports as
    *ForSequenceClassification whose backbone is the trained one."""
    import importlib.util

    import torch
    import transformers

    from acecoder_jax.train.run import run_training

    torch.manual_seed(0)
    hf_cfg = transformers.Qwen2Config(vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                      pad_token_id=0, eos_token_id=3, bos_token_id=2)
    transformers.Qwen2ForCausalLM(hf_cfg).save_pretrained(str(tmp_path / "base"))
    spec = importlib.util.spec_from_file_location("rm_config", os.path.join(REPO, "configs", "rm.py"))
    cfg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cfg)
    c = cfg.get_config("cpu_tiny")
    c.model.init, c.model.hf_path, c.model.tokenizer = "hf", str(tmp_path / "base"), tok_dir
    c.data.train, c.data.num_buckets = pairs_file, 1
    c.train.total_steps, c.train.save_every, c.train.eval_every = 4, 0, 0
    c.mesh.shape = (2, 2, 2)
    result = run_training(c, str(tmp_path / "run"), objective_name="bradley_terry")
    assert [r["step"] for r in result.history] == [1, 2, 3, 4] and len(result.evals) == 1
    assert os.listdir(tmp_path / "run" / "checkpoints") == ["4"]
    exported = transformers.AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "run" / "hf"))
    base = transformers.Qwen2ForCausalLM.from_pretrained(str(tmp_path / "base"))
    w_new = exported.model.layers[0].mlp.up_proj.weight.detach().numpy()
    w_old = base.model.layers[0].mlp.up_proj.weight.detach().numpy()
    assert w_new.shape == w_old.shape and not np.allclose(w_new, w_old)
    with pytest.raises(ValueError, match="entry point trains"):
        run_training(c, str(tmp_path / "other"), objective_name="lm")


def test_question_split_holds_out_whole_questions(tokenizer, tmp_path):
    """data.eval_split=question: no question has pairs on both sides (a random pair split has)."""
    rows = []
    for q in range(12):
        for k in range(4):
            pair = learnable_pairs(1)[0]
            rows.append({**pair, "id": f"q{q}", "chosen": f"{pair['chosen']} # {q}.{k}"})
    path = str(tmp_path / "grouped.jsonl")
    io.write_jsonl(path, rows)
    ds = D.load_pair_dataset(path, tokenizer, max_length=128)
    assert sorted(set(ds.questions())) == list(range(12))
    train, held = ds.split_holdout(0.25, seed=3, by="question")
    assert not set(train.questions()) & set(held.questions())
    assert len(held) >= 12 and len(held) % 4 == 0 and len(train) + len(held) == 48
    again = ds.split_holdout(0.25, seed=3, by="question")[1]
    assert again.questions() == held.questions()  # seeded
    rand_train, rand_held = ds.split_holdout(0.25, seed=3)
    assert set(rand_train.questions()) & set(rand_held.questions())  # what the question split prevents
    with pytest.raises(ValueError, match="eval split 'qestion'"):
        ds.split_holdout(0.25, seed=3, by="qestion")
