"""The CPU FFI kernels (packed-panel matmul, decode attention): parity with their XLA
counterparts, shape checks, the sampler's use of them, and the fallback when they cannot be built."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from acecoder_jax.kernels import cpu, decode_attention, packed_matmul
from acecoder_jax.models import decoder, init_model, preset
from acecoder_jax.sampling import Sampler, SamplingParams

DISABLED = os.environ.get("ACECODER_JAX_CPU_KERNELS") == "0"
needs_kernel = pytest.mark.skipif(DISABLED, reason="ACECODER_JAX_CPU_KERNELS=0")


def test_kernels_build_on_this_machine():
    """CI has a C++ compiler: a build failure must fail here, not silently fall back."""
    if DISABLED:
        assert not cpu.available()
    else:
        assert cpu.available(), cpu.unavailable_reason()


@needs_kernel
@pytest.mark.parametrize("lead,in_shape,out_shape", [
    ((1,), (7,), (5,)),  # one row, one partial panel
    ((8,), (512,), (8, 96)),  # a decode step's q/k/v shape: exactly 16 panels
    ((9,), (64,), (49,)),  # a full row block plus one row; one column past a panel
    ((17,), (33,), (97,)),  # odd K; tail rows of every size path up to 8
    ((2, 3), (4, 16), (40,)),  # leading dims and two contracted dims (the o projection)
    ((64,), (128,), (1000,)),  # prefill-sized M
])
def test_matches_dot(lead, in_shape, out_shape):
    rs = np.random.RandomState(0)
    x = rs.randn(*lead, *in_shape).astype(np.float32)
    w = rs.randn(*in_shape, *out_shape).astype(np.float32)
    got = jax.jit(packed_matmul.matmul)(jnp.asarray(x), packed_matmul.pack(jnp.asarray(w), len(in_shape)))
    want = np.tensordot(x.astype(np.float64), w.astype(np.float64), len(in_shape))
    assert got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5 * np.sqrt(np.prod(in_shape)))


def test_pack_layout_and_dtype_check():
    w = jnp.arange(3 * 50, dtype=jnp.float32).reshape(3, 50)
    p = packed_matmul.pack(w)
    assert p.panels.shape == (2, 3, packed_matmul.TILE) and (p.in_shape, p.out_shape) == ((3,), (50,))
    np.testing.assert_array_equal(p.panels[1, :, :2], w[:, 48:])  # panel 1 holds columns 48..49
    assert not np.asarray(p.panels[1, :, 2:]).any()  # zero padding past N
    with pytest.raises(ValueError, match="float32"):
        packed_matmul.pack(w.astype(jnp.bfloat16))


@needs_kernel
def test_kernel_rejects_inconsistent_shapes():
    x = jnp.ones((2, 8), jnp.float32)
    panels = jnp.ones((1, 8, packed_matmul.TILE), jnp.float32)  # one panel cannot hold n=100
    call = jax.ffi.ffi_call(packed_matmul.TARGET, jax.ShapeDtypeStruct((2, 100), jnp.float32))
    with pytest.raises(Exception, match="packed_matmul"):
        call(x, panels, n=np.int64(100)).block_until_ready()


@needs_kernel
@pytest.mark.parametrize("b,kv,heads,d,s", [
    (8, 2, 4, 64, 192),  # the sampler benchmark's shape
    (3, 1, 7, 32, 16),  # one slot vector; 7 query heads per kv head (Qwen2.5-7B's grouping)
    (2, 2, 12, 128, 48),  # more than 8 query heads per kv head: two groups; one 48-slot block
    (1, 4, 1, 64, 80),  # multi-head attention; a block and a partial one
])
def test_decode_attention_matches_xla(b, kv, heads, d, s):
    rs = np.random.RandomState(0)
    q = jnp.asarray(rs.randn(b, 1, kv * heads, d).astype(np.float32))
    k = jnp.asarray(rs.randn(b, kv, d, s).astype(np.float32))
    v = jnp.asarray(rs.randn(b, kv, s, d).astype(np.float32))
    valid = rs.rand(b, s) < 0.6
    valid[:, 0] = True
    valid[-1, 1:] = False  # a row with one valid slot
    mask = jnp.asarray(valid)[:, None, None, :]
    assert decode_attention.supports(q, k)
    got = jax.jit(lambda *a: decoder.decode_attention(*a, cpu_kernel=True))(q, k, v, mask)
    want = jax.jit(decoder.decode_attention)(q, k, v, mask)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)


def test_decode_attention_falls_back_to_xla_on_shapes_it_does_not_block():
    q = jnp.ones((1, 1, 2, 16), jnp.float32)
    assert not decode_attention.supports(q, jnp.ones((1, 1, 16, 32), jnp.float32))  # D % 32
    assert not decode_attention.supports(jnp.ones((1, 1, 2, 32)), jnp.ones((1, 1, 32, 20)))  # S % 16
    assert not decode_attention.supports(q.astype(jnp.bfloat16), jnp.ones((1, 1, 16, 32), jnp.bfloat16))
    k, v = jnp.ones((1, 1, 16, 20), jnp.float32), jnp.ones((1, 1, 20, 16), jnp.float32)
    out = decoder.decode_attention(q, k, v, jnp.ones((1, 1, 1, 20), bool), cpu_kernel=True)
    np.testing.assert_allclose(np.asarray(out), 1.0, rtol=1e-6)


@needs_kernel
def test_sampler_uses_the_kernels_and_matches_xla():
    model = init_model(preset("tiny"), seed=1)
    prompts = [[5, 6, 7], [8, 9, 10, 11, 12], [3] * 10, [40, 41], [7] * 4]
    sp = SamplingParams(max_new_tokens=12, temperature=0)
    fast = Sampler(model, batch_size=9, prompt_buckets=(16,))  # 9 rows: a row block and a tail
    plain = Sampler(model, batch_size=9, prompt_buckets=(16,), cpu_kernels=False)
    assert fast.cpu_kernels and not plain.cpu_kernels
    a, b = fast.generate_ids(prompts, sp), plain.generate_ids(prompts, sp)
    for (ca,), (cb,) in zip(a, b):
        assert ca.tokens.tolist() == cb.tokens.tolist()
        np.testing.assert_allclose(ca.logprobs, cb.logprobs, atol=1e-5)


FALLBACK = r"""
import json, sys
from acecoder_jax.kernels import cpu, decode_attention, packed_matmul
from acecoder_jax.models import decoder, init_model, preset
from acecoder_jax.sampling import Sampler, SamplingParams
model = init_model(preset("tiny"), seed=0)
s = Sampler(model, batch_size=2, prompt_buckets=(8,))
out = s.generate_ids([[5, 6, 7]], SamplingParams(max_new_tokens=4, temperature=0))
try:
    Sampler(model, batch_size=2, prompt_buckets=(8,), cpu_kernels=True)
    forced = "accepted"
except ValueError as e:
    forced = str(e)
print(json.dumps({"available": cpu.available(), "reason": cpu.unavailable_reason(),
                  "used": s.cpu_kernels, "tokens": out[0][0].tokens.tolist(), "forced": forced}))
"""


@pytest.mark.parametrize("env", [{"CXX": "/bin/false"}, {"ACECODER_JAX_CPU_KERNELS": "0"}])
def test_without_the_kernels_the_sampler_falls_back_to_xla(tmp_path, env):
    full_env = {**os.environ, "ACECODER_JAX_CACHE": str(tmp_path), "JAX_PLATFORMS": "cpu", **env}
    full_env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-c", FALLBACK], capture_output=True, text=True, env=full_env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert not got["available"] and not got["used"] and len(got["tokens"]) == 4
    assert ("failed" in got["reason"]) if "CXX" in env else ("disabled" in got["reason"])
    assert "cpu_kernels=True needs" in got["forced"]
    assert not list(tmp_path.rglob("*.so"))  # a failed build leaves nothing behind
