"""The jitted train step shared by every objective (Bradley-Terry RM, LM fine-tuning, RL).

A pure function of (TrainState, batch): the model is rebuilt from (graphdef, params) inside the
trace, so there is no Python in the compiled step. Shardings are explicit on the way in and out,
and the old state is donated so params and optimizer moments are updated in place.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

# loss_fn(model, batch) -> (scalar loss, dict of scalar metrics)
LossFn = Callable[[nnx.Module, dict], tuple[jax.Array, dict]]


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any  # nnx.State holding the trainable nnx.Param variables
    opt_state: Any


def init_train_state(model: nnx.Module, optimizer: optax.GradientTransformation) -> tuple[nnx.GraphDef, TrainState]:
    """Splits the model; optimizer moments are created where their parameters live."""
    graphdef, params = nnx.split(model, nnx.Param)
    opt_state = jax.jit(optimizer.init)(params)
    return graphdef, TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state)


def shardings_of(tree: Any) -> Any:
    return jax.tree.map(lambda x: x.sharding, tree)


def make_train_step(
    graphdef: nnx.GraphDef,
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    *,
    state_sharding: Any = None,
    batch_sharding: Any = None,
    accum_steps: int = 1,
    donate: bool = True,
) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """Returns jit(step)(state, batch) -> (new_state, metrics).

    With accum_steps > 1 the batch's leading dim is split (strided) into that many micro-batches whose
    gradients are summed in a `lax.scan` (one compiled micro-step, constant memory) and averaged.
    """

    def loss_of(params, batch):
        return loss_fn(nnx.merge(graphdef, params), batch)

    grad_fn = jax.value_and_grad(loss_of, has_aux=True)

    def step(state: TrainState, batch: dict):
        if accum_steps == 1:
            (_, metrics), grads = grad_fn(state.params, batch)
        else:
            def split(x):
                if x.shape[0] % accum_steps:
                    raise ValueError(f"batch dim {x.shape[0]} not divisible by accum_steps={accum_steps}")
                # micro-batch m takes rows m, m + accum_steps, ...: with the batch sharded on its
                # leading dim, every micro-batch then spans all devices instead of a slice of them.
                return x.reshape(x.shape[0] // accum_steps, accum_steps, *x.shape[1:]).swapaxes(0, 1)

            micro = jax.tree.map(split, batch)

            def body(acc, mb):
                (_, m), g = grad_fn(state.params, mb)
                return jax.tree.map(jnp.add, acc, g), m

            zeros = jax.tree.map(jnp.zeros_like, state.params)
            grads, metrics = jax.lax.scan(body, zeros, micro)
            grads = jax.tree.map(lambda g: g / accum_steps, grads)
            metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = dict(metrics, grad_norm=optax.tree.norm(grads))
        return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

    return jax.jit(
        step,
        in_shardings=(state_sharding, batch_sharding),
        out_shardings=(state_sharding, None),
        donate_argnums=(0,) if donate else (),
    )


def make_eval_step(graphdef: nnx.GraphDef, loss_fn: LossFn, *, state_sharding: Optional[Any] = None,
                   batch_sharding: Optional[Any] = None):
    """jit(eval)(params, batch) -> metrics, with the same loss function and no update."""

    def evaluate(params, batch):
        return loss_fn(nnx.merge(graphdef, params), batch)[1]

    param_sharding = None if state_sharding is None else state_sharding.params
    return jax.jit(evaluate, in_shardings=(param_sharding, batch_sharding))
