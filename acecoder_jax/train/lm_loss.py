"""Next-token cross-entropy on response tokens, computed in sequence chunks from hidden states.

With a 152K vocabulary a [B, T, V] float32 logits tensor is the largest activation of a step, so
the loss never builds it: the hidden states are cut into chunks along the sequence, and each
chunk's logits are made, reduced to per-position NLL and hits and dropped inside a rematerialised
scan body, so the backward pass recomputes them one chunk at a time as well (`map_position_chunks`,
which RL's log-probs use too).

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


def map_position_chunks(fn, hidden: jax.Array, *per_position: jax.Array, chunk: int = DEFAULT_CHUNK):
    """fn applied to the sequence `chunk` positions at a time, its outputs put back together.

    hidden [B, L, E] and each of `per_position` [B, L] are cut into [B, C] chunks (L padded up to a
    multiple of C; padded positions are dropped from the outputs). fn(h [B, C, E], *xs [B, C]) ->
    a tuple of [B, C] arrays; the result is that tuple at [B, L]. fn runs in a rematerialised scan
    body, so the logits it makes exist one [B, C, V] block at a time, forward and backward: the one
    place the LM loss and RL's log-probs avoid a [B, L, V] tensor.
    """
    if chunk <= 0:
        raise ValueError(f"chunk must be positive, got {chunk}")
    b, length, e = hidden.shape
    c = min(chunk, length)
    n = -(-length // c)
    pad = n * c - length

    def to_chunks(x):
        x = jnp.pad(x, ((0, 0), (0, pad)) + ((0, 0),) * (x.ndim - 2)) if pad else x
        return x.reshape(b, n, c, *x.shape[2:]).swapaxes(0, 1)

    body = jax.checkpoint(lambda _, xs: (None, fn(*xs)))
    _, outs = jax.lax.scan(body, None, tuple(to_chunks(x) for x in (hidden, *per_position)))
    return tuple(o.swapaxes(0, 1).reshape(b, n * c)[:, :length] for o in outs)


def chunked_nll(hidden: jax.Array, targets: jax.Array, weights: jax.Array, logits_fn, *,
                chunk: int = DEFAULT_CHUNK) -> tuple[jax.Array, jax.Array]:
    """(sum of weighted NLL, weighted count of argmax hits) over [B, L] positions, chunk by chunk.

    hidden [B, L, E]; targets [B, L] int; weights [B, L] float; logits_fn(hidden [B, C, E]) ->
    float32 logits [B, C, V].
    """
    def one(h, t):
        logits = logits_fn(h)
        picked = jnp.take_along_axis(logits, t[..., None], axis=-1)[..., 0]
        nll = jax.nn.logsumexp(logits, axis=-1) - picked
        return nll, (jnp.argmax(logits, axis=-1) == t).astype(jnp.float32)

    nll, hits = map_position_chunks(one, hidden, targets, chunk=chunk)
    return jnp.sum(nll * weights), jnp.sum(hits * weights)


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
