"""Next-token cross-entropy on response tokens, computed in sequence chunks from hidden states.

With a 152K vocabulary a [B, T, V] float32 logits tensor is the largest activation of a step, so
the loss never builds it: the hidden states are cut into chunks along the sequence, and each
chunk's logits are made, reduced to (sum of NLL, correct count) and dropped inside a rematerialised
scan body, so the backward pass recomputes them one chunk at a time as well.

Batch layout (left padded): input_ids / attention_mask / loss_mask, all [B, T]. loss_mask[b, t] = 1
marks token t as a response token to be predicted (from the hidden state at t - 1). An optional
`loss_denominator` [B] (every entry the same) replaces the batch's own token count, so that
micro-batches of an accumulated step are normalised by the global batch's token count.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_CHUNK = 512


def shifted_targets(input_ids: jax.Array, loss_mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(targets, weights) aligned with hidden positions 0..T-2: position t predicts token t + 1."""
    return input_ids[:, 1:], loss_mask[:, 1:].astype(jnp.float32)


def chunked_nll(hidden: jax.Array, targets: jax.Array, weights: jax.Array, logits_fn, *,
                chunk: int = DEFAULT_CHUNK) -> tuple[jax.Array, jax.Array]:
    """(sum of weighted NLL, weighted count of argmax hits) over [B, L] positions, chunk by chunk.

    hidden [B, L, E]; targets [B, L] int; weights [B, L] float; logits_fn(hidden [B, C, E]) ->
    float32 logits [B, C, V]. L is padded up to a multiple of `chunk` with zero weight.
    """
    if chunk <= 0:
        raise ValueError(f"chunk must be positive, got {chunk}")
    b, length, e = hidden.shape
    chunk = min(chunk, length)
    n = -(-length // chunk)
    pad = n * chunk - length
    if pad:
        hidden = jnp.pad(hidden, ((0, 0), (0, pad), (0, 0)))
        targets = jnp.pad(targets, ((0, 0), (0, pad)))
        weights = jnp.pad(weights, ((0, 0), (0, pad)))
    # [n, B, C, ...] so the scan walks the sequence
    hs = hidden.reshape(b, n, chunk, e).swapaxes(0, 1)
    ts = targets.reshape(b, n, chunk).swapaxes(0, 1)
    ws = weights.reshape(b, n, chunk).swapaxes(0, 1)

    @jax.checkpoint
    def one(h, t, w):
        logits = logits_fn(h)
        logz = jax.nn.logsumexp(logits, axis=-1)
        picked = jnp.take_along_axis(logits, t[..., None], axis=-1)[..., 0]
        nll = jnp.sum((logz - picked) * w)
        hits = jnp.sum((jnp.argmax(logits, axis=-1) == t).astype(jnp.float32) * w)
        return nll, hits

    def body(carry, xs):
        nll, hits = one(*xs)
        return (carry[0] + nll, carry[1] + hits), None

    zero = jnp.zeros((), jnp.float32)
    (nll, hits), _ = jax.lax.scan(body, (zero, zero), (hs, ts, ws))
    return nll, hits


def response_lm_loss(model, batch: dict, *, chunk: int = DEFAULT_CHUNK) -> tuple[jax.Array, dict]:
    """Mean next-token NLL over response tokens (loss_mask == 1), plus token accuracy."""
    hidden, _ = model.hidden_states(batch["input_ids"], batch["attention_mask"])
    targets, weights = shifted_targets(batch["input_ids"], batch["loss_mask"])
    weights = weights * batch["attention_mask"][:, 1:].astype(jnp.float32)
    nll, hits = chunked_nll(hidden[:, :-1], targets, weights, model.logits, chunk=chunk)
    tokens = jnp.sum(weights)
    if "loss_denominator" in batch:
        denominator = batch["loss_denominator"][0].astype(jnp.float32)
    else:
        denominator = jnp.maximum(tokens, 1.0)
    loss = nll / denominator
    safe = jnp.maximum(tokens, 1.0)
    return loss, {"loss": loss, "token_nll": nll / safe, "token_accuracy": hits / safe, "tokens": tokens}


def add_global_denominator(batch: dict, accum_steps: int) -> dict:
    """Host-side: give every micro-batch the global response-token count / accum_steps as divisor,
    so averaging the micro-batch losses gives exactly the big batch's token-mean loss."""
    mask = np.asarray(batch["loss_mask"])[:, 1:] * np.asarray(batch["attention_mask"])[:, 1:]
    tokens = float(mask.sum())
    rows = mask.shape[0]
    return dict(batch, loss_denominator=np.full((rows,), max(tokens, 1.0) / accum_steps, np.float32))
