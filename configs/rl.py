"""Policy-gradient RL (launch/train_rl.py): Reinforce++ / GRPO / RLOO with test and RM rewards.

Usage: --config=configs/rl.py:VARIANT --config.model.hf_path=DIR --config.data.train=PROBLEMS.jsonl --workdir=DIR
Problems are AceCode records {"id", "question", "test_cases"} (e.g. the hard subset of AceCode-87K).
Variants:
  paper_base_rule_r1   Qwen2.5-Coder-7B-Base, R1 template, binary all-pass test reward (the paper's run)
  paper_base_rm        same policy and template, AceCodeRM reward (set reward_model.hf_path)
  paper_instruct_rule  Qwen2.5-Coder-7B-Instruct, chat policy prompt, binary test reward
  paper_instruct_rm    Qwen2.5-Coder-7B-Instruct, chat policy prompt, AceCodeRM reward
  cpu_toy              tiny model on the bundled toy task family (set tokenizer and model.hf_path)
Ablation knobs: algo.estimator (reinforce++ | reinforce++-baseline | grpo | rloo), algo.kl_coef /
algo.kl_estimator (KL in the reward), algo.kl_loss_coef / algo.kl_loss_estimator (KL as a loss term),
algo.clip_low / clip_high (asymmetric clip), reward.<name>.weight, reward.tests.mode
(all_pass | pass_rate), execution.backend (embedded | queue) + execution.uri.
"""
import ml_collections

from acecoder_jax import config_blocks


def base() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.model = config_blocks.model_config()  # the policy

    c.reference = ml_collections.ConfigDict()
    c.reference.hf_path = ""  # empty: a frozen copy of the initial policy (else loaded like config.model)

    c.mesh = config_blocks.mesh_config()

    c.data = ml_collections.ConfigDict()
    c.data.source = "files"  # files | toy
    c.data.train = ""
    c.data.eval = ""
    c.data.eval_fraction = 0.0
    c.data.template = "r1"  # r1 | chat | plain
    c.data.num_prompt_tests = 1  # tests shown in the prompt's docstring
    c.data.toy = ml_collections.ConfigDict()
    c.data.toy.num_tasks = 200
    c.data.toy.seed = 0
    c.data.toy.num_tests = 8
    c.data.toy.difficulties = (1, 2, 3)
    c.data.toy.families = ()

    c.rollout = ml_collections.ConfigDict()
    c.rollout.prompts_per_step = 256  # rollout batch (prompts)
    c.rollout.n_samples = 8
    c.rollout.temperature = 1.0
    c.rollout.top_p = 1.0
    c.rollout.top_k = 0
    c.rollout.max_new_tokens = 2048
    c.rollout.stop_strings = ()
    c.rollout.sampler_batch = 64
    c.rollout.prompt_buckets = (128, 256, 512, 1024)
    c.rollout.logprob_batch = 32  # rows per old/reference log-prob forward
    c.rollout.logprob_chunk = 512  # sequence positions per logits chunk

    c.algo = ml_collections.ConfigDict()
    c.algo.estimator = "reinforce++"
    c.algo.gamma = 1.0
    c.algo.reward_clip = 10.0
    c.algo.kl_coef = 0.01  # KL folded into the per-token reward
    c.algo.kl_estimator = "k1"
    c.algo.kl_loss_coef = 0.0  # KL as a loss term (GRPO style)
    c.algo.kl_loss_estimator = "k3"
    c.algo.policy_loss = "ppo-clip"
    c.algo.clip_low = 0.2
    c.algo.clip_high = 0.0  # 0: symmetric (= clip_low)
    c.algo.dual_clip = 0.0  # 0: off
    c.algo.epochs = 1
    c.algo.train_batch = 128  # rows per optimizer update
    c.algo.micro_batch = 16

    c.reward = ml_collections.ConfigDict()
    c.reward.tests = ml_collections.ConfigDict()
    c.reward.tests.weight = 1.0
    c.reward.tests.mode = "all_pass"  # all_pass (the paper's rule reward) | pass_rate
    c.reward.tests.timeout_s = 10.0
    c.reward.tests.retries = 2
    c.execution = config_blocks.execution_config()

    c.optim = config_blocks.optim_config(lr=5e-7, warmup_ratio=0.0, min_lr_ratio=1.0)  # constant
    c.train = config_blocks.train_config(total_steps=80, eval_every=10, save_every=5, log_every=1)
    c.train.eval_at_start = True

    c.eval = ml_collections.ConfigDict()
    c.eval.n_samples = 4
    c.eval.temperature = 1.0
    c.eval.seed = 1234

    c.export = config_blocks.export_config()
    c.export.every = 0  # also export every this many steps (0: at the end only)
    return c


def _rm_reward(c: ml_collections.ConfigDict) -> None:
    """The RM as the only reward: config.reward_model says which RM and how it scores."""
    c.reward = ml_collections.ConfigDict()
    c.reward.reward_model = ml_collections.ConfigDict()
    c.reward.reward_model.weight = 1.0
    c.reward.reward_model.normalize = "none"  # none | batch | running
    c.reward_model = config_blocks.reward_model_config(batch_size=16, max_length=4096)  # ours or AceCodeRM-7B


def paper_base_rule_r1() -> ml_collections.ConfigDict:
    """Qwen2.5-Coder-7B-Base + R1 template + binary rule reward: rollout 256 x 8, train batch 128,
    lr 5e-7, k1 KL 0.01 in the reward, temperature 1.0, 2048 new tokens, Reinforce++, 80 steps."""
    c = base()
    c.model.hf_path = "gs://YOUR_BUCKET/models/Qwen2.5-Coder-7B"
    c.data.template = "r1"
    c.rollout.stop_strings = ("</answer>",)
    return c


def paper_base_rm() -> ml_collections.ConfigDict:
    c = paper_base_rule_r1()
    _rm_reward(c)
    return c


def paper_instruct_rule() -> ml_collections.ConfigDict:
    c = base()
    c.model.hf_path = "gs://YOUR_BUCKET/models/Qwen2.5-Coder-7B-Instruct"
    c.data.template = "chat"
    c.rollout.stop_strings = ()
    return c


def paper_instruct_rm() -> ml_collections.ConfigDict:
    c = paper_instruct_rule()
    _rm_reward(c)
    return c


def cpu_toy() -> ml_collections.ConfigDict:
    """Tiny policy on the toy task family: a few CPU minutes. Warm-start it with the LM trainer."""
    c = base()
    config_blocks.cpu_model(c)
    c.data.source = "toy"
    c.data.template = "plain"
    c.data.num_prompt_tests = 0
    c.data.eval_fraction = 0.25
    c.data.toy.num_tasks = 160
    c.data.toy.difficulties = (1,)
    c.rollout.prompts_per_step = 16
    c.rollout.n_samples = 8
    c.rollout.max_new_tokens = 48
    c.rollout.sampler_batch = 64
    c.rollout.prompt_buckets = (32, 64, 128)
    c.rollout.logprob_batch = 64
    c.rollout.logprob_chunk = 64
    c.algo.kl_coef = 0.01
    c.algo.train_batch = 64
    c.algo.micro_batch = 32
    c.reward.tests.timeout_s = 5.0
    c.optim.lr = 2e-4
    c.train.total_steps = 30
    c.train.eval_every = 10
    c.train.save_every = 10
    c.eval.n_samples = 8
    c.export.dtype = "float32"
    return c


VARIANTS = {"paper_base_rule_r1": paper_base_rule_r1, "paper_base_rm": paper_base_rm,
            "paper_instruct_rule": paper_instruct_rule, "paper_instruct_rm": paper_instruct_rm, "cpu_toy": cpu_toy}


def get_config(variant: str = "cpu_toy") -> ml_collections.ConfigDict:
    return config_blocks.select_variant(VARIANTS, variant, "rl")
