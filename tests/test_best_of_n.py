"""Best-of-N end to end on HumanEval problems: tiny policy + tiny RM, real sandbox, report files."""

import json
import os

import numpy as np
import pytest

from acecoder_jax.evaluation.benchmarks import load_humaneval
from acecoder_jax.models import export_hf, init_model, preset
from acecoder_jax.rm.scoring import RewardScorer
from acecoder_jax.tokenization import train_sentencepiece


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("bon")
    corpus = [p.prompt + (p.canonical_solution or "") for p in load_humaneval().problems[:60]]
    tok = train_sentencepiece(corpus, 400, str(root / "tok"))
    cfg = preset("tiny", vocab_size=512, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    export_hf(init_model(cfg, head="lm", seed=1), cfg, str(root / "policy"), tokenizer_dir=str(root / "tok"))
    export_hf(init_model(cfg, head="reward", seed=2), cfg, str(root / "rm"), tokenizer_dir=str(root / "tok"))
    return root, tok


def test_reward_scorer_batches_match_single_rows(tiny_checkpoints):
    root, tok = tiny_checkpoints
    from acecoder_jax.models import load_hf

    rm, _ = load_hf(str(root / "rm"), head="reward")
    questions = ["def add(a, b):", "Reverse a string.", "x" * 50]
    responses = ["return a + b", "```python\ndef f(s):\n    return s[::-1]\n```", "pass"]
    batched = RewardScorer(rm, tok, batch_size=2, buckets=(16, 64, 256))(questions, responses)
    for q, r, b in zip(questions, responses, batched):
        alone = RewardScorer(rm, tok, batch_size=1, buckets=(512,))([q], [r])[0]
        assert abs(alone - b) < 1e-4
    # rows longer than the largest bucket under max_length are cut to max_length, which is a bucket
    long = RewardScorer(rm, tok, batch_size=2, buckets=(16, 64), max_length=100)(["q " * 80], ["r " * 80])
    assert long.shape == (1,) and np.isfinite(long).all()
    with pytest.raises(ValueError, match="3 questions but 2 responses"):
        RewardScorer(rm, tok)(questions, responses[:2])


def test_best_of_n_launch_end_to_end(tiny_checkpoints, tmp_path):
    root, _ = tiny_checkpoints
    from acecoder_jax.commands import best_of_n
    from configs.best_of_n import get_config

    config = get_config("cpu_tiny")
    config.policy.hf_path = str(root / "policy")
    config.reward_model.hf_path = str(root / "rm")
    config.benchmark.limit = 3
    run = best_of_n.run(config, str(tmp_path))
    for name in ("results.json", "results.md", "best_of_n.png", "samples.jsonl"):
        assert os.path.getsize(tmp_path / name) > 0, name
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["runs"][0]["num_problems"] == 3
    assert set(run["best_of_n"]) == {"1", "2", "4"} and run["num_problems"] == 3
    for v in [run["greedy"], run["mean_over_samples"], run["oracle_pass_at_n"], *run["best_of_n"].values()]:
        assert 0.0 <= v <= 1.0
    samples = [json.loads(l) for l in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 3 * (1 + 4)
    assert all(s["status"] in {"ok", "syntax_error", "crash", "timeout", "memory", "invalid"} for s in samples)
    assert all(np.isfinite(s["rm_score"]) for s in samples if s["kind"] == "sample")
    assert "| " in (tmp_path / "results.md").read_text()
