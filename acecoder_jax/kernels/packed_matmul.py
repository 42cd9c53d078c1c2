"""Small-batch float32 matmuls against panel-packed weights: an XLA:CPU FFI kernel for decoding.

A decode step multiplies ~8 rows by every weight matrix. XLA:CPU's GEMM kernels run that shape
bound by their own compute (~36 GB/s of weights on the 2-core build VM); `packed_matmul.cc` reads
weights packed as contiguous panels at close to the memory's streaming rate. Weights are packed
once per parameter set (the sampler does it), so a decode step reads each panel once. Needs
`cpu.available()`.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

TARGET = "acecoder_packed_matmul_f32"
TILE = 48  # output columns per panel: kTile in packed_matmul.cc, which rejects any other


@flax.struct.dataclass
class PackedKernel:
    """A [*in, *out] kernel as panels [ceil(N / TILE), K, TILE] (K = prod(in), N = prod(out),
    zero-padded to whole panels): each panel is one contiguous read for the kernel."""

    panels: jax.Array
    in_shape: tuple = flax.struct.field(pytree_node=False)
    out_shape: tuple = flax.struct.field(pytree_node=False)


def pack(kernel: jax.Array, in_dims: int = 1) -> PackedKernel:
    """Panel layout of `kernel` (its first `in_dims` axes are contracted). Traceable."""
    if kernel.dtype != jnp.float32:
        raise ValueError(f"packed kernels are float32; got {kernel.dtype}")
    in_shape, out_shape = tuple(kernel.shape[:in_dims]), tuple(kernel.shape[in_dims:])
    k, n = int(np.prod(in_shape)), int(np.prod(out_shape))
    panels = -(-n // TILE)
    w = jnp.pad(kernel.reshape(k, n), ((0, 0), (0, panels * TILE - n)))
    return PackedKernel(w.reshape(k, panels, TILE).transpose(1, 0, 2), in_shape, out_shape)


def matmul(x: jax.Array, kernel: PackedKernel) -> jax.Array:
    """x[..., *in] @ kernel -> [..., *out] in float32."""
    k, n = int(np.prod(kernel.in_shape)), int(np.prod(kernel.out_shape))
    lead = x.shape[: x.ndim - len(kernel.in_shape)]
    x2 = x.reshape(-1, k).astype(jnp.float32)
    y = jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct((x2.shape[0], n), jnp.float32))(
        x2, kernel.panels, n=np.int64(n))
    return y.reshape(*lead, *kernel.out_shape)
