"""The whole AceCoder loop on the bundled toy task family, on CPU (launch/pipeline.py).

Usage: python launch/pipeline.py --config=configs/demo_cpu.py[:VARIANT] --workdir=DIR [--config.x=y]
Variants:
  default  the embedded CPU demo (about 6 minutes and 3.3 GB peak RSS on 2 cores)
  ci       the same stages on a smaller corpus with fewer steps (tests)
Each stage's sub-config is the stage's own config file (configs/data.py, lm.py, rm.py, rl.py,
best_of_n.py) with demo overrides, so a knob is spelled the same here and in the stage's launcher.
"""
import os

import ml_collections

from acecoder_jax import cli, config_blocks

_HERE = os.path.dirname(os.path.abspath(__file__))


def _stage_config(name: str, variant: str) -> ml_collections.ConfigDict:
    """A stage's own config file beside this one (so a copied configs/ folder stays consistent)."""
    return cli.load_config(os.path.join(_HERE, f"{name}.py:{variant}"))


def base() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.heldout_fraction = 0.2  # toy questions kept out of SFT, sampling, pairs and RL training
    c.progress = True  # bars on a terminal only (logs and CI stay quiet either way)
    c.template = "plain"  # prompt template for the tiny policy (see rl/rollout.PROMPT_TEMPLATES)
    # The demo executes a toy model's samples of the bundled tasks: where this host cannot give
    # the sandbox full isolation (not root, e.g. a laptop) run with what it can give (logged)
    # instead of refusing; see docs/sandbox.md "Isolation levels".
    c.sandbox_allow_weaker_isolation = True

    c.data = _stage_config("data", "toy")
    c.data.seeds.num_toy_tasks = 240
    c.data.seeds.toy_difficulties = (1, 2)
    c.data.synthesis.num_tests = 12
    c.data.synthesis.reference.num_candidates = 80
    c.data.execution.timeout_s = 5.0

    c.tokenizer_training = ml_collections.ConfigDict()  # the demo's SentencePiece tokenizer, trained on the corpus
    c.tokenizer_training.vocab_size = 400

    # SFT warm start: reference solutions mixed with single-point mutants, so the policy starts with
    # spread-out pass rates (pairs need both winners and losers; RL needs something to fix).
    c.sft = _stage_config("lm", "cpu_tiny")
    c.sft.data.template = "plain"
    c.sft.data.max_length = 192
    c.sft.data.eval_fraction = 0.05
    c.sft.optim.lr = 2e-3
    c.sft.optim.warmup_ratio = 0.05
    c.sft.train.global_batch = 32
    c.sft.train.micro_batch = 32
    c.sft.train.total_steps = 600
    c.sft.train.eval_every = 100
    c.sft.train.save_every = 100
    c.sft.train.log_every = 50
    c.sft_mix = ml_collections.ConfigDict()
    c.sft_mix.copies = 12  # SFT examples per training question
    c.sft_mix.correct_fraction = 0.3

    c.sample = ml_collections.ConfigDict()
    c.sample.n = 16
    c.sample.temperature = 1.0
    c.sample.max_new_tokens = 64
    c.sample.batch_size = 64
    c.sample.prompt_buckets = (64, 128, 256)
    c.sample.model_name = "sft-policy"

    c.rm = _stage_config("rm", "cpu_tiny")
    c.rm.model.init = "hf"  # from the SFT policy: a fresh reward head on its backbone
    c.rm.data.max_length = 256
    c.rm.data.eval_fraction = 0.15
    c.rm.optim.lr = 5e-4
    c.rm.train.global_batch = 32
    c.rm.train.micro_batch = 32
    c.rm.train.total_steps = 120
    c.rm.train.eval_every = 40
    c.rm.train.save_every = 40
    c.rm.train.log_every = 20

    c.bon = _stage_config("best_of_n", "cpu_tiny")
    c.bon.bon.n = 8
    c.bon.bon.max_new_tokens = 64
    c.bon.bon.timeout_s = 2.0
    c.bon.sampler.batch_size = 64
    c.bon.sampler.prompt_buckets = (64, 128, 256)
    c.bon.reward_model.max_length = 192
    c.bon.reward_model.batch_size = 64

    c.rl = _stage_config("rl", "cpu_toy")
    c.rl.data.source = "files"
    c.rl.data.template = "plain"
    c.rl.data.eval_fraction = 0.0
    c.rl.rollout.prompt_buckets = (64, 128, 256)
    c.rl.train.total_steps = 40
    c.rl.train.eval_every = 20
    c.rl.train.save_every = 10
    c.rl_rm = ml_collections.ConfigDict()
    c.rl_rm.enabled = True
    c.rl_rm.normalize = "batch"

    c.humaneval = ml_collections.ConfigDict()
    c.humaneval.limit = 0  # 0: all 164 problems
    c.humaneval.max_new_tokens = 64
    # HumanEval prompts reach the 2048 bucket with the toy tokenizer: attention scores there cost
    # batch x heads x 2048^2 floats, so a batch of 64 took the demo to 10.7 GB peak RSS; at 8 the
    # whole demo peaks at 3.3 GB and the stage runs faster on 2 cores (README "Measured figures").
    c.humaneval.batch_size = 8
    c.humaneval.rm_batch_size = 16
    c.humaneval.prompt_buckets = (512, 1024, 2048)
    return c


def ci() -> ml_collections.ConfigDict:
    c = base()
    c.data.seeds.num_toy_tasks = 160  # difficulty 1 has fewer distinct tasks: the generator stops at ~76
    c.data.seeds.toy_difficulties = (1,)
    c.sft.train.total_steps = 300
    c.sample.n = 12
    c.rm.data.eval_fraction = 0.3
    c.rm.train.global_batch = 8
    c.rm.train.micro_batch = 8
    c.rm.train.eval_batch = 4
    c.rm.train.total_steps = 30
    c.rm.train.eval_every = 30
    c.bon.bon.n = 4
    c.rl.rollout.prompts_per_step = 8
    c.rl.train.total_steps = 4
    c.rl.train.eval_every = 4
    c.rl.train.save_every = 2
    c.rl.eval.n_samples = 2
    c.humaneval.limit = 8
    c.humaneval.max_new_tokens = 16
    return c


VARIANTS = {"default": base, "ci": ci}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
    return config_blocks.select_variant(VARIANTS, variant, "demo_cpu")
