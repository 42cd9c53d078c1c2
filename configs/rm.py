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
    c.tokenizer = ""  # "": the tokenizer files of model.hf_path

    c.model = config_blocks.model_config()

    c.mesh = ml_collections.ConfigDict()
    c.mesh.shape = (1, -1, 1)  # (data, fsdp, tensor); -1 takes the remaining devices

    c.data = ml_collections.ConfigDict()
    c.data.train = ""  # AceCodePair jsonl/parquet: comma-separated paths or globs, local or gs://
    c.data.eval = ""  # held-out pairs; empty: hold out data.eval_fraction of train
    c.data.eval_fraction = 0.01
    c.data.max_length = 2048
    c.data.truncation = "right"  # right: keep the first tokens | left: keep the last | drop: reject
    c.data.num_buckets = 4  # padded lengths max/8, max/4, max/2, max
    c.data.template = "chat"  # unused by the RM (its input is always prompts.reward_model_text)

    c.loss = ml_collections.ConfigDict()
    c.loss.margin = 0.0
    c.loss.center_coef = 0.0

    c.optim = ml_collections.ConfigDict()
    c.optim.lr = 1e-5
    c.optim.warmup_ratio = 0.1
    c.optim.min_lr_ratio = 0.1  # cosine to a floor of lr * min_lr_ratio
    c.optim.weight_decay = 0.0
    c.optim.b1 = 0.9
    c.optim.b2 = 0.95
    c.optim.clip_norm = 1.0

    c.train = ml_collections.ConfigDict()
    c.train.global_batch = 128  # pairs per optimizer step
    c.train.micro_batch = 32  # pairs per forward/backward; global_batch / micro_batch = accumulation
    c.train.epochs = 1.0
    c.train.total_steps = 0  # 0: epochs * steps per epoch
    c.train.eval_batch = 0  # 0: global_batch
    c.train.eval_every = 200
    c.train.eval_batches = 0  # 0: the whole held-out set
    c.train.save_every = 200
    c.train.keep = 3
    c.train.async_save = True
    c.train.log_every = 10
    c.train.progress = True

    c.export = ml_collections.ConfigDict()
    c.export.enabled = True
    c.export.dir = ""  # "": <workdir>/hf
    c.export.dtype = "bfloat16"
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
