"""The CPU kernel library: the XLA FFI kernels in this package, compiled together for this host.

Built on first use with the host's C++ compiler against jaxlib's FFI headers, for the host's CPU
(-march=native: vector width and instruction set follow the machine), and cached under
~/.cache/acecoder_jax (ACECODER_JAX_CACHE overrides), keyed by the sources, jaxlib version and
CPU. Without a compiler, or with ACECODER_JAX_CPU_KERNELS=0, `available()` is False (the reason
logged once) and callers keep their XLA paths.
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

import jax
import jaxlib

HERE = Path(__file__).parent
SOURCES = ("packed_matmul.cc", "decode_attention.cc")
HEADERS = ("parallel_for.h",)
TARGETS = {  # FFI target name -> handler symbol
    "acecoder_packed_matmul_f32": "AcecoderPackedMatmulF32",
    "acecoder_decode_attention_f32": "AcecoderDecodeAttentionF32",
}

_state: dict = {}  # "ok": bool once tried, "reason": why not
log = logging.getLogger(__name__)


def _cpu_key() -> str:
    """What -march=native depends on: the CPU model and its feature flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "".join(sorted({l for l in lines if l.startswith(("model name", "flags", "Features", "CPU part"))}))
    except OSError:
        return platform.processor() + platform.machine()


def _build() -> Path:
    digest = hashlib.sha256(jaxlib.__version__.encode() + _cpu_key().encode())
    for name in SOURCES + HEADERS:
        digest.update((HERE / name).read_bytes())
    cache = Path(os.environ.get("ACECODER_JAX_CACHE", Path.home() / ".cache" / "acecoder_jax")) / "kernels"
    lib = cache / f"cpu_kernels-{digest.hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
    os.close(fd)
    cmd = [os.environ.get("CXX", "c++"), "-O3", "-march=native", "-std=gnu++17", "-shared", "-fPIC", "-w",
           f"-I{jax.ffi.include_dir()}", *(str(HERE / s) for s in SOURCES), "-o", tmp]
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
    """Builds the library and registers its FFI targets, once per process."""
    if "ok" not in _state:
        _state["ok"], _state["reason"] = False, None
        if os.environ.get("ACECODER_JAX_CPU_KERNELS", "1") == "0":
            _state["reason"] = "disabled by ACECODER_JAX_CPU_KERNELS=0"
        else:
            try:
                lib = ctypes.cdll.LoadLibrary(str(_build()))
                for target, symbol in TARGETS.items():
                    jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
                _state["ok"], _state["lib"] = True, lib
            except Exception as e:  # no compiler, no headers, unsupported platform
                _state["reason"] = f"{type(e).__name__}: {e}"
                log.warning("CPU kernels unavailable, sampling uses XLA's: %s", _state["reason"])
    return _state["ok"]


def unavailable_reason() -> Optional[str]:
    available()
    return _state["reason"]
