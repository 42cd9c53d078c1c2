"""Training objectives for the shared loop, registered by name (config.objective): each says which
model head it trains, its loss over a packed batch, and its host-side batch preparation."""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from acecoder_jax.registry import Registry
from acecoder_jax.rm.loss import pairwise_rm_loss
from acecoder_jax.train.lm_loss import DEFAULT_CHUNK, add_global_denominator, response_lm_loss


@dataclasses.dataclass(frozen=True)
class Objective:
    name: str
    head: str  # "reward" | "lm": the model head the loss reads
    loss_fn: Callable  # (model, batch) -> (loss, metrics)
    prepare: Callable[[dict, int], dict] = lambda batch, accum_steps: batch  # host side, global batch
    token_masks: tuple[str, ...] = ("attention_mask",)  # batch masks whose sum is the tokens processed


OBJECTIVES = Registry("objective")


@OBJECTIVES.register("bradley_terry")
def bradley_terry(margin: float = 0.0, center_coef: float = 0.0) -> Objective:
    return Objective("bradley_terry", "reward",
                     functools.partial(pairwise_rm_loss, margin=margin, center_coef=center_coef),
                     token_masks=("chosen_mask", "rejected_mask"))


@OBJECTIVES.register("lm")
def lm(chunk: int = DEFAULT_CHUNK) -> Objective:
    return Objective("lm", "lm", functools.partial(response_lm_loss, chunk=chunk), add_global_denominator)


def objective(name: str, **kwargs) -> Objective:
    return OBJECTIVES[name](**kwargs)
