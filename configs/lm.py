"""LM fine-tuning on response tokens (launch/train_lm.py): SFT baselines and warm starts.

Usage: --config=configs/lm.py:VARIANT --config.data.train=SFT.jsonl --config.x=y --workdir=DIR
Records: {"prompt", "response"} | {"messages": [..., assistant]} | {"question", "response"
[, "test_cases"]} (AceCoder policy prompt). The loss counts only response tokens.
Variants:
  sft_7b     Qwen2.5-Coder-7B(-Instruct) SFT: lr 1e-5, cosine, warmup 0.03, 1 epoch, batch 64, 2048 tokens
  cpu_tiny   tiny random model for tests and CPU demos (set tokenizer and data.train)
"""
import ml_collections

from acecoder_jax import config_blocks


def base() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.objective = "lm"
    c.seed = 0
    c.model = config_blocks.model_config()
    c.mesh = config_blocks.mesh_config()

    c.data = ml_collections.ConfigDict()
    c.data.train = ""
    c.data.eval = ""
    c.data.eval_fraction = 0.01
    c.data.max_length = 2048
    c.data.truncation = "left"  # left: cut the prompt's start | right: cut the response's end | drop
    c.data.num_buckets = 4
    # Tokenized rows are kept on this host's disk, memory-mapped, keyed by the files' content, the
    # tokenizer and the settings: "" = $ACECODER_CACHE/tokenized (~/.cache/acecoder_jax), "none" = off.
    c.data.token_cache = ""
    c.data.template = "chat"  # chat: tokenizer chat template | plain: prompt + response + EOS

    c.loss = ml_collections.ConfigDict()
    c.loss.chunk = 512  # sequence positions per logits chunk

    c.optim = config_blocks.optim_config(lr=1e-5, warmup_ratio=0.03, min_lr_ratio=0.1)
    c.train = config_blocks.supervised_train_config(global_batch=64, micro_batch=16)
    c.export = config_blocks.export_config()
    return c


def sft_7b() -> ml_collections.ConfigDict:
    return base()


def cpu_tiny() -> ml_collections.ConfigDict:
    c = base()
    config_blocks.cpu_tiny_training(c)
    c.loss.chunk = 32
    return c


VARIANTS = {"sft_7b": sft_7b, "cpu_tiny": cpu_tiny}


def get_config(variant: str = "cpu_tiny") -> ml_collections.ConfigDict:
    return config_blocks.select_variant(VARIANTS, variant, "lm")
