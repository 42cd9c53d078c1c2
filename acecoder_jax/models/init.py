"""Random initialisation directly into the target sharding (no full host copy)."""

from __future__ import annotations

from typing import Optional

import jax
from flax import nnx
from jax.sharding import Mesh

from acecoder_jax.models.config import ModelConfig
from acecoder_jax.models.decoder import DecoderModel
from acecoder_jax.parallel import param_shardings


def init_model(config: ModelConfig, *, head: str = "lm", mesh: Optional[Mesh] = None, seed: int = 0) -> DecoderModel:
    def make():
        return DecoderModel(config, head=head, mesh=mesh, rngs=nnx.Rngs(seed))

    if mesh is None:
        return make()
    graphdef, abstract_state = nnx.split(nnx.eval_shape(make))
    shardings = param_shardings(abstract_state, mesh)
    state = jax.jit(lambda: nnx.state(make()), out_shardings=shardings)()
    return nnx.merge(graphdef, state)
