"""Bradley-Terry pairwise objective for reward models."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def bradley_terry_loss(r_chosen: jax.Array, r_rejected: jax.Array, *, margin: float | jax.Array = 0.0,
                       center_coef: float = 0.0) -> tuple[jax.Array, dict]:
    """-log sigmoid(r_c - r_r - margin), averaged over pairs.

    `center_coef` adds center_coef * mean((r_c + r_r)^2), which pins the reward scale's free offset
    near zero (the BT likelihood alone is invariant to it).
    """
    diff = r_chosen.astype(jnp.float32) - r_rejected.astype(jnp.float32)
    loss = -jnp.mean(jax.nn.log_sigmoid(diff - margin))
    if center_coef:
        loss = loss + center_coef * jnp.mean((r_chosen + r_rejected) ** 2)
    metrics = {
        "loss": loss,
        "accuracy": jnp.mean((diff > 0).astype(jnp.float32)),
        "margin": jnp.mean(diff),
        "reward_chosen": jnp.mean(r_chosen),
        "reward_rejected": jnp.mean(r_rejected),
    }
    return loss, metrics


def pairwise_rm_loss(model, batch: dict, *, margin: float = 0.0, center_coef: float = 0.0):
    """Scores chosen and rejected sequences in ONE forward batch, then applies the BT loss.

    batch: chosen_ids / chosen_mask / rejected_ids / rejected_mask, each [P, T] (same T).
    """
    ids = jnp.concatenate([batch["chosen_ids"], batch["rejected_ids"]], axis=0)
    mask = jnp.concatenate([batch["chosen_mask"], batch["rejected_mask"]], axis=0)
    rewards = model(ids, mask)
    p = batch["chosen_ids"].shape[0]
    return bradley_terry_loss(rewards[:p], rewards[p:], margin=batch.get("margin", margin), center_coef=center_coef)
