"""Synthesis with the in-process JAX sampler backend, wired through the synthesize stage."""

import pytest

from acecoder_jax.data.stages import make_synthesizer, run_synthesize
from acecoder_jax.models import export_hf, init_model, preset
from acecoder_jax.tokenization import train_sentencepiece


def test_sampler_backend_runs_the_stage_and_rejects_unparsable_replies(tmp_path):
    from configs.data import get_config

    tok = train_sentencepiece(['{"question": "Add two numbers.", "tests": ["assert add(1, 2) == 3"]}'] * 30
                              + ["def add(a, b):\n    return a + b\n"] * 30, 300, str(tmp_path / "tok"))
    cfg_model = preset("tiny", pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    export_hf(init_model(cfg_model, seed=0), cfg_model, str(tmp_path / "model"), tokenizer_dir=str(tmp_path / "tok"))

    cfg = get_config("toy")
    cfg.seeds.num_toy_tasks = 3
    cfg.synthesis.backend = "sampler"
    cfg.synthesis.sampler.model.hf_path = str(tmp_path / "model")
    cfg.synthesis.sampler.model.param_dtype = cfg.synthesis.sampler.model.compute_dtype = "float32"
    cfg.synthesis.sampler.mesh.shape = (-1, 1, 1)
    cfg.synthesis.sampler.batch_size = 4
    cfg.synthesis.sampler.max_new_tokens = 16
    cfg.synthesis.sampler.prompt_buckets = (1024, 2048)
    cfg.progress = False
    synth = make_synthesizer(cfg, str(tmp_path))
    assert synth.name == "llm:model"

    # one reply per seed, parsed by the same tolerant parser as the endpoint backend
    results = synth.synthesize([{"id": "s0", "instruction": "Add two numbers.", "program": "def add(a, b):\n    return a + b\n"}])
    assert len(results) == 1 and results[0].raw != "" and not results[0].ok  # random weights: no JSON

    from acecoder_jax.data.stage import EmptyStage

    with pytest.raises(EmptyStage, match=r"synthesize: all 3 records of toy:3:0:1,2,3 were rejected"):
        run_synthesize(cfg, None, str(tmp_path / "out.jsonl"), workdir=str(tmp_path / "work"))
    cfg.fail_on_empty = False  # a random model writes no parsable reply: accept the empty output to inspect it
    stats = run_synthesize(cfg, None, str(tmp_path / "out.jsonl"), workdir=str(tmp_path / "work"))
    assert stats["records_in"] == 3 and stats["records_out"] == 0
    assert sum(stats["rejected"].values()) + sum(stats["dropped"].values()) == 3  # every seed accounted for
