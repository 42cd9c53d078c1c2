"""Device mesh, THE logical-axis rules table, and multi-host initialisation.

Every parameter and every activation constraint names its dimensions with logical axis names;
`LOGICAL_AXIS_RULES` is the only place that maps them to mesh axes. Nothing else in the code base
writes a PartitionSpec by hand.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Iterable, Optional, Sequence

import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")

# logical name -> mesh axes it may shard over (in order). Parameter and activation names are kept
# apart so that, e.g., the parameter `embed` dim can be fsdp-sharded while activations shard their
# batch over (data, fsdp) and keep `act_embed` whole.
LOGICAL_AXIS_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # parameters
    ("layers", ()),
    ("vocab", ("tensor",)),
    ("embed", ("fsdp",)),
    ("heads", ("tensor",)),
    ("kv_heads", ("tensor",)),
    ("head_dim", ()),
    ("mlp", ("tensor",)),
    ("norm", ()),
    ("reward", ()),
    # activations
    ("act_batch", ("data", "fsdp")),
    ("act_length", ()),
    ("act_embed", ()),
    ("act_heads", ("tensor",)),
    ("act_kv_heads", ("tensor",)),
    ("act_mlp", ("tensor",)),
    ("act_vocab", ("tensor",)),
    ("act_cache_length", ()),
)

_RULES = dict(LOGICAL_AXIS_RULES)
_warned: set[tuple] = set()


def make_mesh(shape: Sequence[int] = (-1, 1, 1), devices: Optional[Sequence] = None) -> Mesh:
    """Builds a (data, fsdp, tensor) mesh; one entry of `shape` may be -1 to take the rest."""
    devices = list(jax.devices() if devices is None else devices)
    shape = list(shape)
    if len(shape) != len(MESH_AXES):
        raise ValueError(f"mesh shape {shape} must have {len(MESH_AXES)} entries {MESH_AXES}")
    if shape.count(-1) > 1:
        raise ValueError(f"mesh shape {shape}: at most one entry may be -1")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if len(devices) % known:
            raise ValueError(f"mesh shape {shape} does not divide {len(devices)} devices")
        shape[shape.index(-1)] = len(devices) // known
    if math.prod(shape) != len(devices):
        raise ValueError(f"mesh shape {shape} needs {math.prod(shape)} devices, have {len(devices)}")
    try:
        grid = mesh_utils.create_device_mesh(shape, devices)
    except Exception:  # CPU / odd topologies: plain row-major order is fine
        grid = np.asarray(devices).reshape(shape)
    return Mesh(grid, MESH_AXES)


def logical_to_spec(
    names: Sequence[Optional[str]], shape: Sequence[int], mesh: Mesh
) -> PartitionSpec:
    """Resolves logical axis names to a PartitionSpec for an array of `shape` on `mesh`.

    A mesh axis is used at most once per array (first dimension wins) and only where it divides the
    dimension; otherwise that dimension stays replicated along it (e.g. 2 KV heads on tensor=4).
    """
    if len(names) != len(shape):
        raise ValueError(f"logical axes {tuple(names)} do not match shape {tuple(shape)}")
    used: set[str] = set()
    spec = []
    for name, dim in zip(names, shape):
        if name is None:
            spec.append(None)
            continue
        if name not in _RULES:
            raise KeyError(f"logical axis {name!r} has no rule in LOGICAL_AXIS_RULES")
        axes = []
        size = 1
        for axis in _RULES[name]:
            n = mesh.shape[axis]
            if axis in used or n == 1:
                continue
            if dim % (size * n):
                key = (name, dim, axis, n)
                if key not in _warned:
                    _warned.add(key)
                    logging.info("dim %s=%d not divisible by mesh axis %s=%d: replicated", name, dim, axis, n)
                continue
            axes.append(axis)
            size *= n
        used.update(axes)
        spec.append(None if not axes else axes[0] if len(axes) == 1 else tuple(axes))
    return PartitionSpec(*spec)


def logical_sharding(names: Sequence[Optional[str]], shape: Sequence[int], mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, logical_to_spec(names, shape, mesh))


def constrain(x: jax.Array, names: Sequence[Optional[str]], mesh: Optional[Mesh]) -> jax.Array:
    """with_sharding_constraint by logical names; a no-op without a multi-device mesh."""
    if mesh is None or mesh.size == 1:
        return x
    return jax.lax.with_sharding_constraint(x, logical_sharding(names, x.shape, mesh))


def initialize_multihost(
    coordinator_address: Optional[str] = None,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
    local_device_ids: Optional[Iterable[int]] = None,
) -> bool:
    """Calls `jax.distributed.initialize` from arguments or the environment.

    Arguments win; otherwise JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID are read.
    With none of them set, JAX's own cluster auto-detection (TPU pods, SLURM, ...) is used when
    ACECODER_MULTIHOST=1, and single-process runs do nothing. On CPU the collectives go over gloo,
    which is how multi-process tests run on one machine. Returns True when initialised here.
    """
    coordinator_address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS")
    if num_processes is None and "JAX_NUM_PROCESSES" in os.environ:
        num_processes = int(os.environ["JAX_NUM_PROCESSES"])
    if process_id is None and "JAX_PROCESS_ID" in os.environ:
        process_id = int(os.environ["JAX_PROCESS_ID"])
    auto = os.environ.get("ACECODER_MULTIHOST") == "1"
    if coordinator_address is None and not auto:
        return False
    # Only affects the CPU backend; accelerators keep their own collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=list(local_device_ids) if local_device_ids is not None else None,
    )
    return True


def param_shardings(state, mesh: Mesh):
    """NamedSharding for every parameter of an NNX state, from its `axes` metadata and the rules."""
    from flax import nnx  # local: keep this module importable without flax

    def one(var):
        if not isinstance(var, nnx.Variable):
            return None
        shape = var.get_value().shape
        axes = var.get_metadata().get("axes") or (None,) * len(shape)
        return var.replace(logical_sharding(axes, shape, mesh))

    return jax.tree.map(one, state, is_leaf=lambda x: isinstance(x, nnx.Variable))


# ---- placing host data and state on a mesh ----------------------------------------------------


def batch_sharding(mesh: Optional[Mesh], global_batch: int):
    """Leading (example) dim over the mesh's batch axes; the rest replicated."""
    if mesh is None:
        return None
    return logical_sharding(("act_batch",), (global_batch,), mesh)


def place_batch(batch: dict, sharding) -> dict:
    """Host numpy global batch -> global arrays; each process fills only its addressable shards."""
    if sharding is None:
        return jax.device_put(batch)
    return {k: jax.make_array_from_callback(v.shape, sharding, lambda idx, v=v: v[idx]) for k, v in batch.items()}


def replicate_rest(tree, mesh: Optional[Mesh]):
    """Leaves not already laid out on `mesh` (a train state's step counter, optimizer counts) are
    replicated over it."""
    if mesh is None:
        return tree
    replicated = NamedSharding(mesh, PartitionSpec())

    def put(x):
        s = getattr(x, "sharding", None)
        return x if isinstance(s, NamedSharding) and s.mesh == mesh else jax.device_put(x, replicated)

    return jax.tree.map(put, tree)
