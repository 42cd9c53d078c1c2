"""Small-batch float32 matmuls against panel-packed weights: an XLA:CPU FFI kernel for decoding.

A decode step multiplies ~8 rows by every weight matrix. XLA:CPU's GEMM kernels run that shape
bound by their own compute (~36 GB/s of weights on the 2-core build VM); the kernel in
`packed_matmul.cc` reads weights packed as contiguous panels at close to the memory's streaming
rate. Weights are packed once per parameter set (the sampler does it), so a decode step reads
each panel once.

The kernel is compiled on first use with the host's C++ compiler against jaxlib's FFI headers,
for the host's CPU (-march=native), and cached under ~/.cache/acecoder_jax (ACECODER_JAX_CACHE
overrides), keyed by the source, jaxlib version and CPU. Without a compiler, or with
ACECODER_JAX_CPU_KERNELS=0, `available()` is False and callers keep jnp.dot.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import flax.struct
import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

TARGET = "acecoder_packed_matmul_f32"
TILE = 48  # output columns per panel; must equal kTile in packed_matmul.cc
SOURCE = Path(__file__).with_name("packed_matmul.cc")

_state: dict = {}  # "ok": bool once tried, "reason": why not
log = logging.getLogger(__name__)


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


def _cpu_key() -> str:
    """What -march=native depends on: the CPU model and its feature flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "".join(sorted({l for l in lines if l.startswith(("model name", "flags", "Features", "CPU part"))}))
    except OSError:
        return platform.processor() + platform.machine()


def _build() -> Path:
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + jaxlib.__version__.encode() + _cpu_key().encode()).hexdigest()[:16]
    cache = Path(os.environ.get("ACECODER_JAX_CACHE", Path.home() / ".cache" / "acecoder_jax")) / "kernels"
    lib = cache / f"packed_matmul-{key}.so"
    if lib.exists():
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
    os.close(fd)
    cmd = [os.environ.get("CXX", "c++"), "-O3", "-march=native", "-std=gnu++17", "-shared", "-fPIC",
           "-w", f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", tmp]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
        os.replace(tmp, lib)  # atomic: concurrent builders each install a complete file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


def available() -> bool:
    """Builds and registers the kernel once per process; False (with the reason logged) if it
    cannot be, or ACECODER_JAX_CPU_KERNELS=0."""
    if "ok" not in _state:
        _state["ok"], _state["reason"] = False, None
        if os.environ.get("ACECODER_JAX_CPU_KERNELS", "1") == "0":
            _state["reason"] = "disabled by ACECODER_JAX_CPU_KERNELS=0"
        else:
            try:
                lib = ctypes.cdll.LoadLibrary(str(_build()))
                if lib.AcecoderPackedMatmulTile() != TILE:
                    raise RuntimeError(f"kernel tile {lib.AcecoderPackedMatmulTile()} != {TILE}")
                jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.AcecoderPackedMatmulF32),
                                            platform="cpu")
                _state["ok"], _state["lib"] = True, lib
            except Exception as e:  # no compiler, no headers, unsupported platform
                _state["reason"] = f"{type(e).__name__}: {e}"
                log.warning("CPU packed-matmul kernel unavailable, decoding uses jnp.dot: %s", _state["reason"])
    return _state["ok"]


def unavailable_reason() -> Optional[str]:
    available()
    return _state["reason"]
