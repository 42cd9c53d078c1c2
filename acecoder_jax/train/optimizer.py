"""AdamW with linear warmup + cosine decay to a floor, global-norm clipping."""

from __future__ import annotations

import optax


def warmup_cosine(peak_lr: float, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0) -> optax.Schedule:
    total_steps = max(int(total_steps), 1)
    # at least one cosine step (optax rejects an empty decay phase, e.g. 2 steps with 2 warmup)
    warmup_steps = min(max(int(warmup_steps), 0), total_steps - 1)
    if not warmup_steps:  # the same values, without optax's warning about an empty warmup ramp
        return optax.cosine_decay_schedule(peak_lr, decay_steps=total_steps, alpha=min_lr_ratio)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup_steps else peak_lr,
        peak_value=peak_lr,
        warmup_steps=warmup_steps,
        decay_steps=total_steps,
        end_value=peak_lr * min_lr_ratio,
    )


def adamw(peak_lr: float, total_steps: int, *, warmup_steps: int = 0, min_lr_ratio: float = 0.1,
          weight_decay: float = 0.0, b1: float = 0.9, b2: float = 0.95, eps: float = 1e-8,
          clip_norm: float | None = 1.0) -> optax.GradientTransformation:
    schedule = warmup_cosine(peak_lr, total_steps, warmup_steps, min_lr_ratio)
    parts = [optax.clip_by_global_norm(clip_norm)] if clip_norm else []
    parts.append(optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay))
    return optax.chain(*parts)
