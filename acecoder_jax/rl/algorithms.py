"""Policy-gradient math: advantage estimators, KL estimators, policy losses, entropy.

Everything here is a pure `jnp` function with static shapes, so it can sit inside `jax.jit`.

Layout (one convention for the whole module):

* Token arrays are ``[B, T]`` over the *response* tokens of a rollout batch of ``B`` samples
  (prompt tokens are not included). ``response_mask`` is 1 on tokens the policy generated and
  0 on padding; rows may have any ragged length, including 0.
* Group structure is a ``[B]`` integer array ``group_ids``: samples drawn from the same prompt share
  an id. Ids can be any integers in any order and groups may differ in size. For the usual
  prompt-major rollout (``num_prompts`` prompts x ``n_samples`` each, sample ``i`` of prompt ``p`` at
  row ``p * n_samples + i``) build them with :func:`prompt_major_group_ids`.
* Scalar rewards are ``[B]`` floats, one per sample.

Estimators follow OpenRLHF's semantics: the scalar reward is shaped per estimator (baseline, group
normalisation, leave-one-out), clipped, placed on the last valid response token, a per-token
``-kl_coef * KL_t`` penalty is added, returns are discounted reverse sums (gamma 1 by default), and
the Reinforce++ variants whiten the returns over all valid tokens of the batch.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from acecoder_jax.registry import Registry

Array = jax.Array


# --------------------------------------------------------------------------------------------
# Registries
# --------------------------------------------------------------------------------------------

ADVANTAGE_ESTIMATORS = Registry("advantage estimator")
KL_ESTIMATORS = Registry("KL estimator")
POLICY_LOSSES = Registry("policy loss")

register_advantage = ADVANTAGE_ESTIMATORS.register
register_kl = KL_ESTIMATORS.register
register_policy_loss = POLICY_LOSSES.register


# --------------------------------------------------------------------------------------------
# Masked reductions and group statistics
# --------------------------------------------------------------------------------------------


def prompt_major_group_ids(num_prompts: int, n_samples: int) -> Array:
    """Group ids for rows laid out prompt-major: row ``p * n_samples + i`` belongs to prompt ``p``."""
    if num_prompts < 1 or n_samples < 1:
        raise ValueError(f"num_prompts ({num_prompts}) and n_samples ({n_samples}) must be >= 1")
    return jnp.repeat(jnp.arange(num_prompts, dtype=jnp.int32), n_samples)


def masked_sum(x: Array, mask: Array, axis=None) -> Array:
    return jnp.sum(x * mask, axis=axis)


def masked_mean(x: Array, mask: Array, axis=None) -> Array:
    """Mean over entries where mask is 1; 0 where the mask is empty (never NaN)."""
    count = jnp.sum(mask, axis=axis)
    return masked_sum(x, mask, axis) / jnp.maximum(count, 1.0)


def masked_whiten(x: Array, mask: Array, var_floor: float = 1e-8) -> Array:
    """(x - mean) / std over valid entries (population variance, floored); invalid entries -> 0."""
    mask = mask.astype(jnp.float32)
    mean = masked_mean(x, mask)
    var = masked_mean(jnp.square(x - mean), mask)
    return (x - mean) * jax.lax.rsqrt(jnp.maximum(var, var_floor)) * mask


def _dense_groups(group_ids: Array) -> Array:
    """Map arbitrary integer ids to 0..G-1 (G <= B) with a static output size."""
    group_ids = jnp.asarray(group_ids)
    if group_ids.ndim != 1:
        raise ValueError(f"group_ids must be 1-D [B], got shape {group_ids.shape}")
    _, inverse = jnp.unique(group_ids, return_inverse=True, size=group_ids.shape[0])
    return inverse.reshape(group_ids.shape)


def group_sum_and_count(values: Array, group_ids: Array) -> tuple[Array, Array]:
    """Per-row sum of `values` over the row's group, and the group's size, both [B]."""
    dense = _dense_groups(group_ids)
    b = values.shape[0]
    sums = jax.ops.segment_sum(values, dense, num_segments=b)
    counts = jax.ops.segment_sum(jnp.ones_like(values), dense, num_segments=b)
    return sums[dense], counts[dense]


def group_mean(values: Array, group_ids: Array) -> Array:
    sums, counts = group_sum_and_count(values, group_ids)
    return sums / counts


def group_std(values: Array, group_ids: Array) -> Array:
    """Per-row unbiased (n-1) standard deviation of the row's group; 0 for a group of one."""
    mean = group_mean(values, group_ids)
    sq, counts = group_sum_and_count(jnp.square(values - mean), group_ids)
    return jnp.sqrt(sq / jnp.maximum(counts - 1.0, 1.0))


# --------------------------------------------------------------------------------------------
# KL estimators (per token, clamped like OpenRLHF)
# --------------------------------------------------------------------------------------------

KL_CLAMP = 10.0


@register_kl("k1")
def kl_k1(logp: Array, logp_ref: Array, clamp: float = KL_CLAMP) -> Array:
    """d = logp - logp_ref; unbiased for KL(pi || ref) under samples from pi."""
    return jnp.clip(logp - logp_ref, -clamp, clamp)


@register_kl("k2")
def kl_k2(logp: Array, logp_ref: Array, clamp: float = KL_CLAMP) -> Array:
    """d^2 / 2; low variance, biased."""
    d = logp - logp_ref
    return jnp.clip(0.5 * jnp.square(d), -clamp, clamp)


@register_kl("k3")
def kl_k3(logp: Array, logp_ref: Array, clamp: float = KL_CLAMP) -> Array:
    """exp(-d) - 1 + d; unbiased and non-negative."""
    d = logp - logp_ref
    return jnp.clip(jnp.expm1(-d) + d, -clamp, clamp)


def kl_loss(
    logp: Array,
    logp_ref: Array,
    response_mask: Array,
    estimator: str = "k3",
    num_tokens: Array | float | None = None,
) -> Array:
    """KL to the reference as a loss term: masked token sum / global token count."""
    mask = response_mask.astype(jnp.float32)
    kl = KL_ESTIMATORS[estimator](logp, logp_ref)
    return masked_sum(kl, mask) / _token_denominator(mask, num_tokens)


# --------------------------------------------------------------------------------------------
# Advantage estimators
# --------------------------------------------------------------------------------------------


class Advantages(NamedTuple):
    advantages: Array  # [B, T], 0 on invalid tokens
    returns: Array  # [B, T] discounted returns before any whitening, 0 on invalid tokens
    token_rewards: Array  # [B, T] placed scalar reward plus the per-token KL penalty


def last_token_onehot(response_mask: Array) -> Array:
    """[B, T] one-hot at the last valid token of each row (all zeros for an empty row)."""
    mask = response_mask.astype(jnp.float32)
    t = mask.shape[-1]
    last = t - 1 - jnp.argmax(jnp.flip(mask, axis=-1) > 0, axis=-1)
    onehot = jax.nn.one_hot(last, t, dtype=jnp.float32)
    return onehot * mask


def token_rewards(
    scalar_rewards: Array,
    response_mask: Array,
    kl: Array | None = None,
    kl_coef: float | Array = 0.0,
    reward_clip: float = 10.0,
) -> Array:
    """Per-token reward: clip(r) on the last valid token, minus kl_coef * KL_t on every valid token."""
    mask = response_mask.astype(jnp.float32)
    r = jnp.clip(scalar_rewards.astype(jnp.float32), -reward_clip, reward_clip)
    out = last_token_onehot(mask) * r[:, None]
    if kl is not None:
        if kl.shape != mask.shape:
            raise ValueError(f"kl has shape {kl.shape}, response_mask has {mask.shape}")
        out = out - kl_coef * kl.astype(jnp.float32)
    return out * mask


def discounted_returns(rewards: Array, response_mask: Array, gamma: float = 1.0) -> Array:
    """G_t = sum_{s >= t} gamma^(s-t) r_s over valid tokens. `gamma` must be a Python float."""
    mask = response_mask.astype(jnp.float32)
    rewards = rewards * mask
    if gamma == 1.0:
        returns = jnp.flip(jnp.cumsum(jnp.flip(rewards, -1), axis=-1), -1)
    else:

        def step(carry, r_t):
            g = r_t + gamma * carry
            return g, g

        _, rev = jax.lax.scan(step, jnp.zeros(rewards.shape[0], rewards.dtype),
                              jnp.flip(rewards, -1).T)
        returns = jnp.flip(rev.T, -1)
    return returns * mask


def _check_rollout_shapes(rewards: Array, response_mask: Array, group_ids: Array | None,
                          needs_groups: bool = True):
    if needs_groups and group_ids is None:
        raise ValueError("this estimator compares samples of the same prompt: pass group_ids [B]")
    if response_mask.ndim != 2:
        raise ValueError(f"response_mask must be [B, T], got shape {response_mask.shape}")
    b = response_mask.shape[0]
    if rewards.shape != (b,):
        raise ValueError(f"rewards must be [B]=({b},), got shape {rewards.shape}")
    if group_ids is not None and jnp.shape(group_ids) != (b,):
        raise ValueError(f"group_ids must be [B]=({b},), got shape {jnp.shape(group_ids)}")


def _estimate(
    shaped_rewards: Array,
    response_mask: Array,
    *,
    kl: Array | None,
    kl_coef: float | Array,
    reward_clip: float,
    gamma: float,
    whiten: bool,
) -> Advantages:
    mask = response_mask.astype(jnp.float32)
    per_token = token_rewards(shaped_rewards, mask, kl, kl_coef, reward_clip)
    returns = discounted_returns(per_token, mask, gamma)
    advantages = masked_whiten(returns, mask) if whiten else returns
    return Advantages(advantages, returns, per_token)


@register_advantage("reinforce++")
def reinforce_pp(
    rewards: Array,
    response_mask: Array,
    group_ids: Array | None = None,
    *,
    kl: Array | None = None,
    kl_coef: float | Array = 0.0,
    reward_clip: float = 10.0,
    gamma: float = 1.0,
) -> Advantages:
    """Reinforce++: returns of (clipped reward + KL penalty), whitened over the batch's valid tokens.

    `group_ids` is accepted for a uniform signature and ignored.
    """
    _check_rollout_shapes(rewards, response_mask, group_ids, needs_groups=False)
    return _estimate(rewards, response_mask, kl=kl, kl_coef=kl_coef, reward_clip=reward_clip,
                     gamma=gamma, whiten=True)


@register_advantage("reinforce++-baseline")
def reinforce_pp_baseline(
    rewards: Array,
    response_mask: Array,
    group_ids: Array,
    *,
    kl: Array | None = None,
    kl_coef: float | Array = 0.0,
    reward_clip: float = 10.0,
    gamma: float = 1.0,
) -> Advantages:
    """Reinforce++ after subtracting each prompt's mean reward from its samples' rewards."""
    _check_rollout_shapes(rewards, response_mask, group_ids)
    rewards = rewards.astype(jnp.float32)
    shaped = rewards - group_mean(rewards, group_ids)
    return _estimate(shaped, response_mask, kl=kl, kl_coef=kl_coef, reward_clip=reward_clip,
                     gamma=gamma, whiten=True)


@register_advantage("grpo")
def grpo(
    rewards: Array,
    response_mask: Array,
    group_ids: Array,
    *,
    kl: Array | None = None,
    kl_coef: float | Array = 0.0,
    reward_clip: float = 10.0,
    gamma: float = 1.0,
    eps: float = 1e-6,
    scale_by_std: bool = True,
) -> Advantages:
    """GRPO: (r - group mean) / (group std + eps), broadcast to every valid token.

    The std is the unbiased one (a group of one has std 0 and advantage 0). With the usual
    kl_coef=0 (KL as a loss term instead) the advantage is the same on every token of a row.
    `scale_by_std=False` gives the mean-only (Dr. GRPO) variant.
    """
    _check_rollout_shapes(rewards, response_mask, group_ids)
    rewards = rewards.astype(jnp.float32)
    shaped = rewards - group_mean(rewards, group_ids)
    if scale_by_std:
        shaped = shaped / (group_std(rewards, group_ids) + eps)
    return _estimate(shaped, response_mask, kl=kl, kl_coef=kl_coef, reward_clip=reward_clip,
                     gamma=gamma, whiten=False)


@register_advantage("rloo")
def rloo(
    rewards: Array,
    response_mask: Array,
    group_ids: Array,
    *,
    kl: Array | None = None,
    kl_coef: float | Array = 0.0,
    reward_clip: float = 10.0,
    gamma: float = 1.0,
) -> Advantages:
    """RLOO: r_i minus the mean reward of the other samples of its prompt.

    A group of one has no other samples; its baseline is its own reward (advantage 0).
    """
    _check_rollout_shapes(rewards, response_mask, group_ids)
    rewards = rewards.astype(jnp.float32)
    sums, counts = group_sum_and_count(rewards, group_ids)
    baseline = jnp.where(counts > 1, (sums - rewards) / jnp.maximum(counts - 1.0, 1.0), rewards)
    return _estimate(rewards - baseline, response_mask, kl=kl, kl_coef=kl_coef,
                     reward_clip=reward_clip, gamma=gamma, whiten=False)


# --------------------------------------------------------------------------------------------
# Policy losses
# --------------------------------------------------------------------------------------------


class PolicyLoss(NamedTuple):
    loss: Array  # scalar: masked token sum / global token count
    clip_fraction: Array  # fraction of valid tokens whose clipped surrogate was the active one
    approx_kl: Array  # mean k3 KL(old || new) over valid tokens, a drift diagnostic
    ratio_mean: Array


def _token_denominator(mask: Array, num_tokens: Array | float | None) -> Array:
    if num_tokens is None:
        return jnp.maximum(jnp.sum(mask), 1.0)
    return jnp.maximum(jnp.asarray(num_tokens, jnp.float32), 1.0)


def _diagnostics(log_ratio: Array, mask: Array) -> tuple[Array, Array]:
    lr = jax.lax.stop_gradient(log_ratio)
    approx_kl = masked_mean(jnp.expm1(-lr) + lr, mask)
    ratio_mean = masked_mean(jnp.exp(lr), mask)
    return approx_kl, ratio_mean


@register_policy_loss("ppo-clip")
def ppo_clip_loss(
    logp: Array,
    logp_old: Array,
    advantages: Array,
    response_mask: Array,
    *,
    clip_low: float = 0.2,
    clip_high: float | None = None,
    dual_clip: float | None = None,
    num_tokens: Array | float | None = None,
) -> PolicyLoss:
    """-min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A), summed / global token count.

    `clip_high` defaults to `clip_low` (symmetric); a larger value is the asymmetric "clip-higher"
    variant. `dual_clip` (> 1) bounds the loss of negative-advantage tokens at -dual_clip * A.
    `num_tokens` is the valid-token count of the whole train batch (all micro-batches and devices),
    so gradients accumulated over micro-batches sum to the batch mean; default: this batch's count.
    """
    if clip_high is None:
        clip_high = clip_low
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
    mask = response_mask.astype(jnp.float32)
    advantages = jax.lax.stop_gradient(advantages.astype(jnp.float32))
    log_ratio = logp.astype(jnp.float32) - jax.lax.stop_gradient(logp_old.astype(jnp.float32))
    ratio = jnp.exp(log_ratio)
    surr = ratio * advantages
    surr_clipped = jnp.clip(ratio, 1.0 - clip_low, 1.0 + clip_high) * advantages
    per_token = -jnp.minimum(surr, surr_clipped)
    clipped = (surr_clipped < surr).astype(jnp.float32)
    if dual_clip is not None:
        bound = -dual_clip * advantages
        per_token = jnp.where(advantages < 0, jnp.minimum(per_token, bound), per_token)
    loss = masked_sum(per_token, mask) / _token_denominator(mask, num_tokens)
    approx_kl, ratio_mean = _diagnostics(log_ratio, mask)
    return PolicyLoss(loss, masked_mean(clipped, mask), approx_kl, ratio_mean)


@register_policy_loss("unclipped")
def unclipped_loss(
    logp: Array,
    logp_old: Array,
    advantages: Array,
    response_mask: Array,
    *,
    num_tokens: Array | float | None = None,
) -> PolicyLoss:
    """-ratio * A with no trust region; on-policy (ratio 1) its gradient is plain REINFORCE."""
    mask = response_mask.astype(jnp.float32)
    advantages = jax.lax.stop_gradient(advantages.astype(jnp.float32))
    log_ratio = logp.astype(jnp.float32) - jax.lax.stop_gradient(logp_old.astype(jnp.float32))
    per_token = -jnp.exp(log_ratio) * advantages
    loss = masked_sum(per_token, mask) / _token_denominator(mask, num_tokens)
    approx_kl, ratio_mean = _diagnostics(log_ratio, mask)
    return PolicyLoss(loss, jnp.zeros((), jnp.float32), approx_kl, ratio_mean)


# --------------------------------------------------------------------------------------------
# Log-probs and entropy from logits
# --------------------------------------------------------------------------------------------


def token_log_probs(logits: Array, tokens: Array, temperature: float = 1.0) -> Array:
    """log softmax(logits / temperature)[tokens], [B, T, V] x [B, T] -> [B, T], in fp32.

    Uses logit - logsumexp so no second [B, T, V] array is materialised.
    """
    logits = logits.astype(jnp.float32)
    if temperature != 1.0:
        logits = logits / temperature
    picked = jnp.take_along_axis(logits, tokens[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return picked - jax.nn.logsumexp(logits, axis=-1)


def entropy_from_logits(logits: Array, temperature: float = 1.0) -> Array:
    """Per-token entropy of softmax(logits / temperature), [B, T, V] -> [B, T], in fp32."""
    logits = logits.astype(jnp.float32)
    if temperature != 1.0:
        logits = logits / temperature
    lse = jax.nn.logsumexp(logits, axis=-1)
    probs = jnp.exp(logits - lse[..., None])
    # 0 * -inf (a vocabulary entry masked out with -inf) would be NaN; such entries add nothing.
    weighted = jnp.where(probs > 0, probs * logits, 0.0)
    return lse - jnp.sum(weighted, axis=-1)
