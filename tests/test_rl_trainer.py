"""RL trainer: packing and log-probs, loss gradient sign, config checks, loud reward failures, exact
resume, and a short RL run on the toy task family that raises held-out pass@1.

The toy policy is warm-started with the shared LM trainer on a mix of reference solutions (30%) and
single-point mutants of them (70%), so it starts with pass@1 in the 0.2-0.4 range and RL has a
clear, learnable signal (choose the unmutated program)."""
from __future__ import annotations

import ast
import json
import os
import random
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "configs"))

import rl as rl_configs  # noqa: E402  configs/rl.py

from acecoder_jax.rl.algorithms import token_log_probs  # noqa: E402
from acecoder_jax.rl.rewards import RewardError  # noqa: E402
from acecoder_jax.rl.rollout import (ProblemSet, make_problem, pack_sequences,  # noqa: E402
                                     power_of_two_buckets, response_log_probs, toy_problem_records)
from acecoder_jax.rl.learner import TIMING_KEYS, rl_loss, step_seed  # noqa: E402
from acecoder_jax.rl.trainer import build_learner  # noqa: E402
from acecoder_jax.train.metrics import read_metrics  # noqa: E402

CORRECT_FRACTION = 0.3
HELD_OUT = 20


# ---- fixtures: toy problems, a tokenizer, a warm-started tiny policy -------------------------------


def _normalised(src: str) -> str:
    return ast.unparse(ast.parse(src))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Toy problems (train / held-out), a tokenizer, and an SFT warm-started tiny policy (HF dir)."""
    from acecoder_jax.data import io
    from acecoder_jax.data.mutants import mutants
    from acecoder_jax.models import export_hf, init_model, preset
    from acecoder_jax.parallel import make_mesh
    from acecoder_jax.tokenization import train_sentencepiece
    from acecoder_jax.train import data as train_data
    from acecoder_jax.train.loop import LoopOptions, train
    from acecoder_jax.train.objectives import objective
    from acecoder_jax.train.optimizer import adamw

    root = str(tmp_path_factory.mktemp("rl_toy"))
    t0 = time.perf_counter()
    records = toy_problem_records(200, difficulties=(1,), num_tests=6)
    rng = random.Random(0)
    order = list(range(len(records)))
    rng.shuffle(order)
    held = [records[i] for i in order[:HELD_OUT]]
    train_recs = [records[i] for i in order[HELD_OUT:]]

    sft = []
    for r in train_recs:
        wrong = mutants(r["solution"], seed=0)
        for _ in range(12):
            right = rng.random() < CORRECT_FRACTION or not wrong
            sft.append({"prompt": r["question"] + "\n",
                        "response": _normalised(r["solution"]) if right else rng.choice(wrong)})
    io.write_jsonl(os.path.join(root, "sft.jsonl"), sft)
    corpus = [r["question"] + "\n" + _normalised(r["solution"]) + "\n" + "\n".join(mutants(r["solution"]))
              for r in records]
    tok_dir = os.path.join(root, "tokenizer")
    tokenizer = train_sentencepiece(corpus * 3, 400, tok_dir)

    mesh = make_mesh((-1, 1, 1))
    dataset = train_data.load_sft_dataset(os.path.join(root, "sft.jsonl"), tokenizer, max_length=96,
                                          template="plain", buckets=(64, 96))
    mc = preset("tiny", pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                bos_token_id=tokenizer.bos_token_id)
    steps = 300
    result = train(init_model(mc, head="lm", mesh=mesh, seed=0),
                   adamw(2e-3, steps, warmup_steps=20, min_lr_ratio=0.1), objective("lm", chunk=32),
                   train_data.BatchSchedule(dataset, 32, seed=0), os.path.join(root, "sft_run"),
                   LoopOptions(total_steps=steps, log_every=50, progress=False, async_save=False), mesh=mesh)
    sft_dir = os.path.join(root, "sft_hf")
    export_hf(result.model, mc, sft_dir, dtype="float32")

    def problem_set(recs):
        return ProblemSet([make_problem(tokenizer, "plain", r["id"], r["question"], r["test_cases"], 0)
                           for r in recs])

    return {"root": root, "tokenizer": tokenizer, "tok_dir": tok_dir, "sft_dir": sft_dir,
            "train": problem_set(train_recs), "held": problem_set(held), "setup_s": time.perf_counter() - t0}


def toy_config(toy, **overrides):
    c = rl_configs.get_config("cpu_toy")
    c.model.tokenizer = toy["tok_dir"]
    c.model.hf_path = toy["sft_dir"]
    c.train.eval_at_start = False
    c.train.eval_every = 0
    c.train.async_save = False
    c.export.enabled = False
    c.update_from_flattened_dict(overrides)
    return c


def _no_timing(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMING_KEYS}


# ---- pure pieces ---------------------------------------------------------------------------------


def test_pack_sequences_layout():
    packed = pack_sequences([[5, 6, 7], [8]], [[1, 2], [3, 4, 9, 9, 9]], 0, (4, 8), power_of_two_buckets(8, 4))
    assert packed["input_ids"].tolist() == [[0, 5, 6, 7, 1, 2, 0, 0, 0, 0, 0, 0],
                                            [0, 0, 0, 8, 3, 4, 9, 9, 9, 0, 0, 0]]
    assert packed["attention_mask"].tolist() == [[0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
                                                 [0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0]]
    assert packed["response_mask"].tolist() == [[1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0, 0]]
    with pytest.raises(ValueError, match="prompt of 9 tokens exceeds the largest bucket 8"):
        pack_sequences([[1] * 9], [[1]], 0, (4, 8), (8,))
    with pytest.raises(ValueError, match="prompt 0 is empty"):
        pack_sequences([[]], [[1]], 0, (4,), (4,))


def _tiny_model(seed=0):
    from acecoder_jax.models import init_model, preset

    return init_model(preset("tiny", vocab_size=64), head="lm", seed=seed)


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_response_log_probs_match_full_logits(chunk):
    model = _tiny_model()
    rng = np.random.default_rng(0)
    packed = pack_sequences([rng.integers(1, 64, 5).tolist(), rng.integers(1, 64, 2).tolist()],
                            [rng.integers(1, 64, 4).tolist(), rng.integers(1, 64, 7).tolist()], 0, (8,), (8,))
    ids, mask = jnp.asarray(packed["input_ids"]), jnp.asarray(packed["attention_mask"])
    logp, ent = response_log_probs(model, ids, mask, 8, temperature=0.7, chunk=chunk, with_entropy=True)
    logits = model(ids, mask)
    ref = token_log_probs(logits[:, 7:-1], ids[:, 8:], 0.7)
    probs = jax.nn.softmax(logits[:, 7:-1] / 0.7, -1)
    ref_ent = -jnp.sum(probs * jnp.log(probs), -1)
    m = packed["response_mask"] > 0
    np.testing.assert_allclose(np.asarray(logp)[m], np.asarray(ref)[m], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ent)[m], np.asarray(ref_ent)[m], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_policy_loss_gradient_moves_sampled_token_logprob(sign):
    """A gradient step on the clipped loss raises log pi of tokens with A > 0 and lowers it for A < 0."""
    model = _tiny_model(seed=1)
    rng = np.random.default_rng(1)
    packed = pack_sequences([rng.integers(1, 64, 6).tolist()] * 2, [rng.integers(1, 64, 5).tolist()] * 2, 0,
                            (8,), (8,))
    ids, mask = jnp.asarray(packed["input_ids"]), jnp.asarray(packed["attention_mask"])
    rmask = jnp.asarray(packed["response_mask"])
    logp0, _ = response_log_probs(model, ids, mask, 8)
    batch = {"input_ids": ids, "attention_mask": mask, "response_mask": rmask, "logp_old": logp0,
             "advantages": sign * rmask, "num_tokens": jnp.full((2,), rmask.sum())}
    graphdef, params = nnx.split(model, nnx.Param)
    grads = jax.grad(lambda p: rl_loss(nnx.merge(graphdef, p), batch)[0])(params)
    new = jax.tree.map(lambda p, g: p - 1e-2 * g, params, grads)
    logp1, _ = response_log_probs(nnx.merge(graphdef, new), ids, mask, 8)
    moved = float(jnp.sum((logp1 - logp0) * rmask) / rmask.sum())
    assert sign * moved > 1e-3, moved


def test_step_seed_is_a_pure_function_of_seed_and_step():
    assert step_seed(0, 3) == step_seed(0, 3)
    assert len({step_seed(0, s) for s in range(50)} | {step_seed(1, 0)}) == 51


def test_paper_configs_hold_the_paper_settings():
    c = rl_configs.get_config("paper_base_rule_r1")
    assert (c.rollout.prompts_per_step, c.rollout.n_samples, c.algo.train_batch) == (256, 8, 128)
    assert (c.optim.lr, c.algo.kl_coef, c.algo.kl_estimator, c.rollout.temperature) == (5e-7, 0.01, "k1", 1.0)
    assert (c.rollout.max_new_tokens, c.algo.estimator, c.algo.clip_low, c.data.template) == (
        2048, "reinforce++", 0.2, "r1")
    assert c.reward.tests.mode == "all_pass" and set(c.reward) == {"tests"}
    assert set(rl_configs.get_config("paper_base_rm").reward) == {"reward_model"}
    assert rl_configs.get_config("paper_instruct_rule").data.template == "chat"
    assert set(rl_configs.get_config("paper_instruct_rm").reward) == {"reward_model"}
    with pytest.raises(ValueError, match="unknown rl config variant 'nope'"):
        rl_configs.get_config("nope")


# ---- the trainer on the toy family ---------------------------------------------------------------


def test_bad_sizes_and_names_fail_clearly(toy, tmp_path):
    c = toy_config(toy, **{"algo.train_batch": 48})
    with pytest.raises(ValueError, match=r"rollout rows 128 .* not a multiple of algo.train_batch=48"):
        build_learner(c, str(tmp_path / "a"), problems=toy["train"], eval_problems=toy["held"])
    c = toy_config(toy, **{"algo.estimator": "ppo-gae"})
    with pytest.raises(KeyError, match="unknown advantage estimator 'ppo-gae'"):
        build_learner(c, str(tmp_path / "b"), problems=toy["train"], eval_problems=toy["held"])
    c = toy_config(toy, **{"rollout.prompts_per_step": 512})
    with pytest.raises(ValueError, match="fewer than rollout.prompts_per_step=512"):
        build_learner(c, str(tmp_path / "c"), problems=toy["train"], eval_problems=toy["held"])


def test_failing_executor_fails_the_step_loudly(toy, tmp_path):
    calls = []

    def broken(jobs):
        calls.append(len(jobs))
        raise ConnectionError("executor down")

    c = toy_config(toy, **{"train.total_steps": 1, "reward.tests.retries": 1})
    c.reward.tests.retry_backoff_s = 0.0
    trainer = build_learner(c, str(tmp_path / "run"), problems=toy["train"], eval_problems=toy["held"], run_jobs=broken)
    with pytest.raises(RewardError, match="executor down"):
        trainer.train()
    assert len(calls) == 2  # first try + one retry, then the error (never a silent zero reward)
    assert read_metrics(str(tmp_path / "run"), "train") == []


def test_resume_after_interruption_reproduces_the_run(toy, tmp_path):
    """Interrupted at step 3 (last checkpoint at 2), resumed: the same metrics and final params as an
    uninterrupted run. Exercises GRPO with the KL as a loss term and two epochs as well."""
    overrides = {"train.total_steps": 4, "train.save_every": 2, "algo.estimator": "grpo", "algo.kl_coef": 0.0,
                 "algo.kl_loss_coef": 0.05, "algo.epochs": 2, "rollout.prompts_per_step": 8}

    straight = build_learner(toy_config(toy, **overrides), str(tmp_path / "straight"), problems=toy["train"])
    try:
        full = straight.train()
        full_params = jax.device_get(straight.state.params)
    finally:
        straight.close()

    class Interrupted(Exception):
        pass

    def interrupt(step, row):
        if step == 3:
            raise Interrupted

    workdir = str(tmp_path / "resumed")
    first = build_learner(toy_config(toy, **overrides), workdir, problems=toy["train"])
    try:
        with pytest.raises(Interrupted):
            first.train(hooks=[interrupt])
    finally:
        first.close()
    assert [r["step"] for r in read_metrics(workdir, "train")] == [1, 2, 3]
    second = build_learner(toy_config(toy, **overrides), workdir, problems=toy["train"])
    try:
        rest = second.train()
        resumed_params = jax.device_get(second.state.params)
    finally:
        second.close()

    assert rest.resumed_from == 2 and [r["step"] for r in rest.history] == [3, 4]
    rows_a = [_no_timing(r) for r in read_metrics(str(tmp_path / "straight"), "train")]
    rows_b = [_no_timing(r) for r in read_metrics(workdir, "train")]
    assert [r["step"] for r in rows_b] == [1, 2, 3, 4]
    assert rows_a == rows_b
    assert {"kl_loss", "clip_fraction", "entropy", "kl", "reward_std", "tests_pass_rate"} <= set(rows_a[0])
    jax.tree.map(np.testing.assert_array_equal, full_params, resumed_params)
    assert full.steps_done == rest.steps_done == 4


@pytest.mark.slow
def test_rl_on_toy_tasks_raises_held_out_pass_at_1(toy, tmp_path):
    """Short Reinforce++ run with the binary test reward; pass@1 on 20 unseen problems x 16 samples,
    each measured with three sampling seeds (their spread is the seed noise)."""
    workdir = str(tmp_path / "run")
    c = toy_config(toy, **{"train.total_steps": 20, "train.eval_every": 10, "export.enabled": True,
                           "export.every": 10})
    trainer = build_learner(c, workdir, problems=toy["train"], eval_problems=toy["held"])
    try:
        seeds = (101, 102, 103)
        before = [trainer.evaluate(n=16, seed=s)["pass@1"] for s in seeds]
        t0 = time.perf_counter()
        result = trainer.train()
        wall = time.perf_counter() - t0
        after = [trainer.evaluate(n=16, seed=s)["pass@1"] for s in seeds]
    finally:
        trainer.close()

    noise = float(max(np.std(before, ddof=1), np.std(after, ddof=1)))
    rows = result.history
    split = {k: float(sum(r[k] for r in rows)) for k in ("time_rollout", "time_execution", "time_logprobs",
                                                         "time_update")}
    print(json.dumps({"pass@1_before": float(np.mean(before)), "pass@1_after": float(np.mean(after)),
                      "seed_std": noise, "before": before, "after": after, "rl_steps": len(rows),
                      "wall_s": round(wall, 1), "time_split_s": {k: round(v, 1) for k, v in split.items()},
                      "warm_start_setup_s": round(toy["setup_s"], 1)}))
    assert 0.1 <= np.mean(before) <= 0.6, before  # the warm start leaves room to learn
    gain = np.mean(after) - np.mean(before)
    assert gain > max(0.15, 4 * noise), (before, after)

    # metrics, TensorBoard, reward curve, export
    train_rows = read_metrics(workdir, "train")
    assert [r["step"] for r in train_rows] == list(range(1, 21))
    for key in ("reward_mean", "reward_std", "tests_pass_rate", "tests_all_pass", "kl", "entropy", "clip_fraction",
                "response_length", "tokens_per_s", "time_rollout", "time_execution", "time_update", "lr"):
        assert all(np.isfinite(r[key]) for r in train_rows), key
    assert np.mean([r["reward_mean"] for r in train_rows[-5:]]) > np.mean([r["reward_mean"] for r in train_rows[:5]])
    assert [r["step"] for r in read_metrics(workdir, "eval")] == [10, 20]
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    with open(os.path.join(workdir, "reward_curve.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    from acecoder_jax.models import load_hf

    exported, _ = load_hf(os.path.join(workdir, "hf"))
    jax.tree.map(np.testing.assert_allclose, jax.device_get(nnx.split(exported, nnx.Param)[1]),
                 jax.device_get(trainer.state.params))
    for step in (10, 20):  # export.every: a checkpoint of the policy at those steps too
        assert load_hf(os.path.join(workdir, f"hf_step{step}"))[1].vocab_size == exported.config.vocab_size


@pytest.mark.slow
def test_launch_train_rl_cpu_toy_from_the_bundled_family(toy, tmp_path):
    """The absl entry point end to end: toy problems generated from the config, one step, resumable."""
    workdir = str(tmp_path / "launch")
    args = [sys.executable, os.path.join(ROOT, "launch", "train_rl.py"),
            f"--config={os.path.join(ROOT, 'configs', 'rl.py')}:cpu_toy", f"--workdir={workdir}",
            f"--config.model.tokenizer={toy['tok_dir']}", f"--config.model.hf_path={toy['sft_dir']}",
            "--config.data.toy.num_tasks=16", "--config.rollout.prompts_per_step=8", "--config.train.total_steps=1",
            "--config.train.eval_at_start=False", "--config.eval.n_samples=2", "--config.export.enabled=False"]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "RL done: 1 steps (resumed from None)" in out.stdout
    # one readable line per step and per evaluation, in the log (stderr is no terminal: no bars)
    row = read_metrics(workdir, "train")[0]
    step_lines = [l for l in out.stderr.splitlines() if "rl[tests] step 1/1  " in l]
    assert len(step_lines) == 1, out.stderr[-3000:]
    for piece in (f"loss {row['loss']:.4f}", f"reward {row['reward_mean']:.3f}", f"pass {row['tests_pass_rate']:.3f}",
                  f"kl {row['kl']:.4f}", " tok/s", " s/step", "eta 0m00s"):
        assert piece in step_lines[0], (piece, step_lines[0])
    assert any("eval[tests] step 1/1  pass@1 " in l for l in out.stderr.splitlines())
    assert "\r" not in out.stderr and "it/s" not in out.stderr
    assert [r["step"] for r in read_metrics(workdir, "train")] == [1]
    assert [r["step"] for r in read_metrics(workdir, "eval")] == [1]
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and "RL done: 1 steps (resumed from 1)" in again.stdout, again.stderr[-3000:]
