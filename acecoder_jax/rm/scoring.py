"""Scoring (question, response) pairs with a reward model, in fixed-shape batches.

Used by best-of-N reranking and by RL's reward-model reward (`rl.rewards.ModelReward(score_fn)`).
Rows are sorted by length so each batch pads to the smallest bucket; batches are filled to a fixed
size, so the compiled forward only ever sees (batch_size, bucket) shapes.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from acecoder_jax.models.decoder import DecoderModel
from acecoder_jax.prompts import reward_model_text
from acecoder_jax.tokenization import DEFAULT_BUCKETS, left_pad, pad_token_id


@functools.partial(jax.jit, static_argnums=0)
def _rewards(graphdef, state, ids, mask):
    return nnx.merge(graphdef, state)(ids, mask)


class RewardScorer:
    def __init__(self, model: DecoderModel, tokenizer, *, batch_size: int = 8,
                 buckets: Sequence[int] = DEFAULT_BUCKETS, max_length: int = 2048):
        if model.head != "reward":
            raise ValueError("RewardScorer needs a model with head='reward'")
        self.graphdef, self.state = nnx.split(model)
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
            r = _rewards(self.graphdef, self.state, jnp.asarray(batch.input_ids), jnp.asarray(batch.attention_mask))
            out[rows] = np.asarray(r)[: len(rows)]
        return out

    def __call__(self, questions: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if len(questions) != len(responses):
            raise ValueError(f"{len(questions)} questions but {len(responses)} responses")
        return self.score_texts([reward_model_text(self.tokenizer, q, r) for q, r in zip(questions, responses)])
