"""Bradley-Terry reward-model training (launch/train_rm.py).

Usage: --config=configs/rm.py:VARIANT --config.data.train=PAIRS.jsonl --config.x=y --workdir=DIR
Variants:
  paper_7b   AceCodeRM-7B: Qwen2.5-Coder-7B-Instruct backbone, lr 1e-5, cosine, warmup ratio 0.1,
             1 epoch, global batch 128, max length 2048 (set model.hf_path to the checkpoint)
  paper_32b  AceCodeRM-32B: Qwen2.5-Coder-32B-Instruct backbone, same recipe, max length 1024
  cpu_tiny   tiny random model for tests and CPU demos (set tokenizer and data.train)
"""
import ml_collections

from acecoder_jax import config_blocks


def base() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.objective = "bradley_terry"
    c.seed = 0
    c.model = config_blocks.model_config()
    c.mesh = config_blocks.mesh_config()

    c.data = ml_collections.ConfigDict()
    c.data.train = ""  # AceCodePair jsonl/parquet: comma-separated paths or globs, local or gs://
    c.data.eval = ""  # held-out pairs; empty: hold out data.eval_fraction of train
    c.data.eval_fraction = 0.01
    # example: a random fraction of pairs | question: whole questions (none in both splits), which
    # measures the RM on questions it never saw, as best-of-N and RL use it
    c.data.eval_split = "example"
    c.data.max_length = 2048
    c.data.truncation = "right"  # right: keep the first tokens | left: keep the last | drop: reject
    c.data.num_buckets = 4
    # Tokenized rows are kept on this host's disk, memory-mapped, keyed by the files' content, the
    # tokenizer and the settings: "" = $ACECODER_CACHE/tokenized (~/.cache/acecoder_jax), "none" = off.
    c.data.token_cache = ""  # padded lengths max/8, max/4, max/2, max
    c.data.template = "chat"  # unused by the RM (its input is always prompts.reward_model_text)

    c.loss = ml_collections.ConfigDict()
    c.loss.margin = 0.0
    c.loss.center_coef = 0.0

    c.optim = config_blocks.optim_config(lr=1e-5, warmup_ratio=0.1, min_lr_ratio=0.1)
    c.train = config_blocks.supervised_train_config(global_batch=128, micro_batch=32)  # pairs
    c.export = config_blocks.export_config()
    return c


def paper_7b() -> ml_collections.ConfigDict:
    return base()


def paper_32b() -> ml_collections.ConfigDict:
    c = base()
    c.data.max_length = 1024
    c.train.micro_batch = 16
    return c


def cpu_tiny() -> ml_collections.ConfigDict:
    c = base()
    config_blocks.cpu_tiny_training(c)
    return c


VARIANTS = {"paper_7b": paper_7b, "paper_32b": paper_32b, "cpu_tiny": cpu_tiny}


def get_config(variant: str = "cpu_tiny") -> ml_collections.ConfigDict:
    return config_blocks.select_variant(VARIANTS, variant, "rm")
