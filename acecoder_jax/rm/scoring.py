"""Scoring (question, response) pairs with a reward model, in fixed-shape batches.

The one RM scorer: best-of-N reranking, evaluation and RL's reward-model reward
(`rl.rewards.ModelReward(score_fn)`) all build it with `load_reward_scorer`.
Rows are sorted by length so each batch pads to the smallest bucket; batches are filled to a fixed
size, so the compiled forward only ever sees (batch_size, bucket) shapes.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import numpy as np
from flax import nnx

from acecoder_jax.errors import ConfigError
from acecoder_jax.models.decoder import DecoderModel
from acecoder_jax.parallel import batch_sharding, place_batch
from acecoder_jax.prompts import reward_model_text
from acecoder_jax.tokenization import DEFAULT_BUCKETS, left_pad, pad_token_id


@functools.partial(jax.jit, static_argnums=0)
def _rewards(graphdef, state, ids, mask):
    return nnx.merge(graphdef, state)(ids, mask)


class RewardScorer:
    """score_fn(questions, responses) -> [B] float32. With a `mesh`, each batch is sharded over its
    batch axes (batch_size must divide by them)."""

    def __init__(self, model: DecoderModel, tokenizer, *, batch_size: int = 8,
                 buckets: Sequence[int] = DEFAULT_BUCKETS, max_length: int = 2048, mesh=None):
        if model.head != "reward":
            raise ValueError("RewardScorer needs a model with head='reward'")
        self.graphdef, self.state = nnx.split(model)
        self.sharding = batch_sharding(mesh, batch_size)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.buckets = tuple(sorted({b for b in buckets if b < max_length} | {max_length}))
        self.max_length = max_length

    def score_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Rewards for already-rendered RM inputs. Over-long inputs keep their last tokens (the
        response end, which the head reads)."""
        if not len(texts):
            return np.zeros((0,), np.float32)
        ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(ids),), np.float32)
        pad = pad_token_id(self.tokenizer)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            seqs = [ids[i] for i in rows]
            seqs += [seqs[0]] * (self.batch_size - len(seqs))  # fixed batch shape; fillers dropped
            batch = left_pad(seqs, pad, buckets=self.buckets, max_length=self.max_length, truncation="left")
            placed = place_batch({"ids": batch.input_ids, "mask": batch.attention_mask}, self.sharding)
            r = _rewards(self.graphdef, self.state, placed["ids"], placed["mask"])
            out[rows] = np.asarray(r)[: len(rows)]
        return out

    def __call__(self, questions: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if len(questions) != len(responses):
            raise ValueError(f"{len(questions)} questions but {len(responses)} responses")
        return self.score_texts([reward_model_text(self.tokenizer, q, r) for q, r in zip(questions, responses)])


def load_reward_scorer(block, *, mesh=None, what: str = "config.reward_model",
                       buckets: Sequence[int] = DEFAULT_BUCKETS) -> RewardScorer:
    """The scorer of a `reward_model` block (config_blocks.reward_model_config): an RM checkpoint,
    ours or an imported AceCodeRM (HF dir, gs:// or Hub id), with its tokenizer, batch size and
    length limit. `what` names the block in errors."""
    from acecoder_jax import builders
    from acecoder_jax.models.init import build_model

    if not block.hf_path:
        raise ConfigError(f"{what}.hf_path is empty: give the RM checkpoint (an HF dir, gs:// or a Hugging Face "
                          f"Hub id) with --{what}.hf_path=DIR")
    tokenizer = builders.tokenizer_from(block, what)
    model, _ = build_model(block, head="reward", mesh=mesh, tokenizer=tokenizer, seed=0, what=what)
    return RewardScorer(model, tokenizer, batch_size=block.batch_size, buckets=buckets, max_length=block.max_length,
                        mesh=mesh)
