"""Flax NNX decoder for the Qwen2 / Qwen2.5 / Qwen3 / Llama-3 family, with LM and reward heads.

Layout choices:
- Layer parameters are always stacked on a leading `layers` axis. `scan_layers` only decides how the
  stack is applied (`lax.scan`: one compiled layer, fast compiles for deep models; or an unrolled
  loop: more cross-layer fusion for small ones). Checkpoints are the same either way.
- Projections keep heads as their own dimension ([embed, heads, head_dim]) so the logical-axis
  rules can shard heads without reshapes.
- Positions come from the attention mask (number of real tokens before each one), so a
  left-padded row gives exactly the logits of the unpadded sequence.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from acecoder_jax.kernels import decode_attention as attention_kernel
from acecoder_jax.kernels import packed_matmul
from acecoder_jax.models.config import ModelConfig
from acecoder_jax.parallel import constrain

HEADS = ("lm", "reward")


def _param(rngs: nnx.Rngs, shape, axes, dtype, std: Optional[float] = 0.02) -> nnx.Param:
    if std is None:
        value = jnp.ones(shape, dtype)
    elif std == 0:
        value = jnp.zeros(shape, dtype)
    else:
        value = (std * jax.random.normal(rngs.params(), shape, jnp.float32)).astype(dtype)
    return nnx.Param(value, axes=tuple(axes))


def _unpacked(kernel: jax.Array, in_dims: int) -> jax.Array:
    """The identity `pack` of the `gemm_operands` methods: plain arrays for jnp.dot."""
    return kernel


def dense(x: jax.Array, kernel, in_dims: int = 1, **kw) -> jax.Array:
    """x[..., *in] @ kernel[*in, *out] as ONE 2-D GEMM (or the packed-panel CPU kernel, for a
    `PackedKernel` made by `decode_weights(cpu_kernels=True)`).

    Reshapes are free; XLA:CPU runs the backward of rank>2 dots ~2.4x slower than the same 2-D GEMM.
    """
    if isinstance(kernel, packed_matmul.PackedKernel):
        return packed_matmul.matmul(x, kernel)
    k_in, k_out = kernel.shape[:in_dims], kernel.shape[in_dims:]
    lead = x.shape[: x.ndim - in_dims]
    n_in = int(np.prod(k_in))
    y = jnp.dot(x.reshape(-1, n_in), kernel.reshape(n_in, -1), **kw)
    return y.reshape(*lead, *k_out)


# ---- rotary embeddings ---------------------------------------------------------------------------


def rope_inv_freq(config: ModelConfig) -> np.ndarray:
    """Inverse frequencies, including Llama-3 / linear scaling, computed once on the host."""
    dim = config.dim_per_head
    inv_freq = 1.0 / (config.rope_theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    scaling = config.rope_scaling or {}
    kind = scaling.get("rope_type", "default")
    if kind == "linear":
        inv_freq = inv_freq / scaling["factor"]
    elif kind == "llama3":
        factor = scaling["factor"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        old_ctx = scaling["original_max_position_embeddings"]
        wavelen = 2 * np.pi / inv_freq
        smooth = (old_ctx / wavelen - low) / (high - low)
        scaled = np.where(wavelen > old_ctx / low, inv_freq / factor, inv_freq)
        is_medium = (wavelen >= old_ctx / high) & (wavelen <= old_ctx / low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        inv_freq = np.where(is_medium, blended, scaled)
    return inv_freq.astype(np.float32)


def rope_tables(positions: jax.Array, inv_freq: np.ndarray, dtype) -> tuple[jax.Array, jax.Array]:
    freqs = positions.astype(jnp.float32)[..., None] * jnp.asarray(inv_freq)
    emb = jnp.concatenate([freqs, freqs], axis=-1)  # rotate-half convention, as in HF
    return jnp.cos(emb).astype(dtype)[:, :, None, :], jnp.sin(emb).astype(dtype)[:, :, None, :]


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    x1, x2 = jnp.split(x, 2, axis=-1)
    return x * cos + jnp.concatenate([-x2, x1], axis=-1) * sin


# ---- KV cache ------------------------------------------------------------------------------------


@flax.struct.dataclass
class KVCache:
    """Preallocated keys/values plus which slots hold real tokens.

    Heads-major, so a decode step reads each head's cache contiguously: values are
    [batch, kv_heads, max_len, head_dim] and keys [batch, kv_heads, head_dim, max_len], so the
    query-key products of a decode step reduce over a major axis and vectorise along the slots
    (~1.7x faster than reducing over a minor head_dim on XLA:CPU). With unrolled layers `k` and `v`
    are tuples of per-layer arrays (each updated in place, read without slicing); with scanned
    layers they are stacked on a leading layers axis (the scan carries one array).
    valid: [batch, max_len]; index: the next slot.
    """

    k: Any  # tuple of [B, K, D, S] per layer, or [L, B, K, D, S] when layers are scanned
    v: Any  # the same with [B, K, S, D]
    valid: jax.Array
    index: jax.Array

    @classmethod
    def zeros(cls, config: ModelConfig, batch: int, max_len: int, dtype=None) -> "KVCache":
        dtype = dtype or config.compute_dtype
        kv_heads, d = config.num_kv_heads, config.dim_per_head
        shapes = (batch, kv_heads, d, max_len), (batch, kv_heads, max_len, d)
        if config.scan_layers:
            k, v = (jnp.zeros((config.num_layers,) + shape, dtype) for shape in shapes)
        else:
            k, v = (tuple(jnp.zeros(shape, dtype) for _ in range(config.num_layers)) for shape in shapes)
        return cls(k=k, v=v, valid=jnp.zeros((batch, max_len), bool), index=jnp.zeros((), jnp.int32))

    @staticmethod
    def logical_axes(config: ModelConfig) -> tuple[tuple, tuple]:
        """Logical axis names of one k array and of one v array, for sharding the cache."""
        k = ("act_batch", "act_kv_heads", None, "act_cache_length")
        v = ("act_batch", "act_kv_heads", "act_cache_length", None)
        return (("layers",) + k, ("layers",) + v) if config.scan_layers else (k, v)


# ---- layers --------------------------------------------------------------------------------------


@flax.struct.dataclass
class DecodeWeights:
    """`DecoderModel.decode_weights()`: per-layer dicts of GEMM operands, the LM head's, and whether
    the step runs the CPU FFI kernels (packed GEMMs, decode attention)."""

    layers: tuple
    lm_head: Any
    cpu_kernels: bool = flax.struct.field(pytree_node=False, default=False)


class RMSNorm(nnx.Module):
    def __init__(self, dim: int, eps: float, *, dtype, axes=("norm",)):
        self.eps = eps
        self.scale = nnx.Param(jnp.ones((dim,), dtype), axes=axes)

    def __call__(self, x: jax.Array) -> jax.Array:
        xf = x.astype(jnp.float32)
        y = xf * jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + self.eps)
        return y.astype(x.dtype) * self.scale[...].astype(x.dtype)


def _fuse_projections(mesh: Optional[Mesh]) -> bool:
    """Concatenate q/k/v (and gate/up) weights into one GEMM, unless tensor parallelism shards the
    concatenated dimension (then the concatenation would need resharding every step)."""
    return mesh is None or mesh.shape["tensor"] == 1


def attend(q, k, v, mask, cfg: ModelConfig, *, causal_blocks: bool) -> jax.Array:
    """jax.nn.dot_product_attention, optionally over causal query blocks.

    Without a fused causal kernel (XLA:CPU) the full [T, T] score matrix is computed and half of it
    masked away. Query block i only needs keys [0, (i+1)*C), so blocking skips the upper triangle.
    """
    t = q.shape[1]
    block = cfg.attention_block_q
    if block is None:  # auto: on CPU only; GPU/TPU kernels handle causality themselves
        block = 32 if jax.default_backend() == "cpu" and t >= 128 else 0
    if not causal_blocks or block <= 0 or t % block or t // block < 2:
        return jax.nn.dot_product_attention(q, k, v, mask=mask, implementation=cfg.attention_impl)
    outs = []
    for i in range(t // block):
        end = (i + 1) * block
        outs.append(jax.nn.dot_product_attention(
            q[:, i * block : end], k[:, :end], v[:, :end], mask=mask[:, :, i * block : end, :end],
            implementation=cfg.attention_impl))
    return jnp.concatenate(outs, axis=1)


def decode_attention(q, k, v, mask, cpu_kernel: bool = False) -> jax.Array:
    """Attention of one new query per row over a heads-major cache, as fused multiply-reduces.

    q [B, 1, N, D]; k [B, K, D, S]; v [B, K, S, D]; mask [B, 1, 1, S]. At one query the two
    products are matrix-vector shaped: a dot kernel per head is all call overhead, while a
    multiply-reduce over the cache fuses into one pass that reads each key and value once (in
    float32). `cpu_kernel`: run it as the XLA:CPU FFI kernel (kernels/decode_attention.py) where the
    shapes fit it.
    """
    if cpu_kernel and attention_kernel.supports(q, k):
        return attention_kernel.attention(q, k, v, mask[:, 0, 0])
    b, _, n, d = q.shape
    kv_heads = k.shape[1]
    qg = q.reshape(b, kv_heads, n // kv_heads, d).astype(jnp.float32) * (1.0 / np.sqrt(d))
    scores = jnp.sum(qg[..., None] * k[:, :, None].astype(jnp.float32), axis=-2)  # [B,K,G,S]
    scores = jnp.where(mask[:, 0, 0][:, None, None, :], scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1)
    out = jnp.sum(probs[..., None] * v[:, :, None].astype(jnp.float32), axis=3)  # [B,K,G,D]
    return out.reshape(b, 1, n, d).astype(q.dtype)


class Attention(nnx.Module):
    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs, mesh: Optional[Mesh]):
        e, h, k, d, pd = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.dim_per_head, cfg.param_dtype
        self.cfg, self.mesh = cfg, mesh
        self.q_proj = _param(rngs, (e, h, d), ("embed", "heads", "head_dim"), pd)
        self.k_proj = _param(rngs, (e, k, d), ("embed", "kv_heads", "head_dim"), pd)
        self.v_proj = _param(rngs, (e, k, d), ("embed", "kv_heads", "head_dim"), pd)
        self.o_proj = _param(rngs, (h, d, e), ("heads", "head_dim", "embed"), pd)
        if cfg.attention_bias:
            self.q_bias = _param(rngs, (h, d), ("heads", "head_dim"), pd, std=0)
            self.k_bias = _param(rngs, (k, d), ("kv_heads", "head_dim"), pd, std=0)
            self.v_bias = _param(rngs, (k, d), ("kv_heads", "head_dim"), pd, std=0)
        if cfg.qk_norm:
            self.q_norm = RMSNorm(d, cfg.rms_norm_eps, dtype=pd, axes=("head_dim",))
            self.k_norm = RMSNorm(d, cfg.rms_norm_eps, dtype=pd, axes=("head_dim",))

    def gemm_operands(self, dt, pack: Callable = _unpacked) -> dict:
        """The weights this layer's GEMMs read, cast to `dt` and passed through `pack(w, in_dims)`:
        q/k/v fused into one GEMM (which runs closer to peak than three narrow ones) unless tensor
        parallelism shards the fused dimension."""
        cfg = self.cfg
        projections = [self.q_proj[...], self.k_proj[...], self.v_proj[...]]
        biases = [self.q_bias[...], self.k_bias[...], self.v_bias[...]] if cfg.attention_bias else []
        ops = {"o": pack(self.o_proj[...].astype(dt), 2)}
        if _fuse_projections(self.mesh):
            ops["qkv"] = pack(jnp.concatenate(projections, axis=1).astype(dt), 1)
            if biases:
                ops["qkv_bias"] = jnp.concatenate(biases, axis=0).astype(dt)
        else:
            ops.update({name: pack(w.astype(dt), 1) for name, w in zip("qkv", projections)})
            ops.update({f"{name}_bias": b.astype(dt) for name, b in zip("qkv", biases)})
        return ops

    def __call__(self, x, cos, sin, mask, kv: Optional[tuple], layer, index, ops: Optional[dict] = None,
                 cpu_kernels: bool = False):
        """kv: this layer's (k, v) cache arrays when `layer` is None, else the stacked caches of
        all layers and this layer's index into them. New keys/values are written at slot `index`
        in place (no per-step copy of the cache); attention runs over this layer's cache.
        ops: `gemm_operands()` made outside the step, or None to make them here. cpu_kernels: run
        the decode attention as the CPU FFI kernel."""
        cfg, dt = self.cfg, x.dtype
        ops = self.gemm_operands(dt) if ops is None else ops
        if "qkv" in ops:
            qkv = dense(x, ops["qkv"])
            if "qkv_bias" in ops:
                qkv = qkv + ops["qkv_bias"]
            q, k, v = jnp.split(qkv, [cfg.num_heads, cfg.num_heads + cfg.num_kv_heads], axis=2)
        else:
            q, k, v = (dense(x, ops[name]) + ops.get(f"{name}_bias", 0) for name in "qkv")
        if cfg.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        q = constrain(q, ("act_batch", "act_length", "act_heads", None), self.mesh)
        if kv is None:
            out = attend(q, k, v, mask, cfg, causal_blocks=True)
        else:
            k_cache, v_cache = kv
            k_new = jnp.transpose(k, (0, 2, 3, 1)).astype(k_cache.dtype)  # [B, K, D, T]
            v_new = jnp.swapaxes(v, 1, 2).astype(v_cache.dtype)  # [B, K, T, D]
            if layer is None:
                k_cache = jax.lax.dynamic_update_slice(k_cache, k_new, (0, 0, 0, index))
                v_cache = jax.lax.dynamic_update_slice(v_cache, v_new, (0, 0, index, 0))
                k_layer, v_layer = k_cache, v_cache
            else:
                k_cache = jax.lax.dynamic_update_slice(k_cache, k_new[None], (layer, 0, 0, 0, index))
                v_cache = jax.lax.dynamic_update_slice(v_cache, v_new[None], (layer, 0, 0, index, 0))
                k_layer = jax.lax.dynamic_index_in_dim(k_cache, layer, axis=0, keepdims=False)
                v_layer = jax.lax.dynamic_index_in_dim(v_cache, layer, axis=0, keepdims=False)
            kv = (k_cache, v_cache)
            if x.shape[1] == 1:
                out = decode_attention(q, k_layer, v_layer, mask, cpu_kernels)
            else:  # prefill: the fused kernels want [B, S, K, D]; one transpose per call
                k_layer, v_layer = jnp.transpose(k_layer, (0, 3, 1, 2)), jnp.swapaxes(v_layer, 1, 2)
                out = attend(q, k_layer.astype(dt), v_layer.astype(dt), mask, cfg, causal_blocks=False)
        out = dense(out, ops["o"], in_dims=2)
        return out, kv


class MLP(nnx.Module):
    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs, mesh: Optional[Mesh]):
        e, f, pd = cfg.hidden_size, cfg.intermediate_size, cfg.param_dtype
        self.mesh = mesh
        self.gate_proj = _param(rngs, (e, f), ("embed", "mlp"), pd)
        self.up_proj = _param(rngs, (e, f), ("embed", "mlp"), pd)
        self.down_proj = _param(rngs, (f, e), ("mlp", "embed"), pd)

    def gemm_operands(self, dt, pack: Callable = _unpacked) -> dict:
        """As Attention.gemm_operands: gate and up fused unless tensor-parallel."""
        ops = {"down": pack(self.down_proj[...].astype(dt), 1)}
        if _fuse_projections(self.mesh):
            ops["gate_up"] = pack(jnp.concatenate([self.gate_proj[...], self.up_proj[...]], axis=1).astype(dt), 1)
        else:
            ops["gate"], ops["up"] = pack(self.gate_proj[...].astype(dt), 1), pack(self.up_proj[...].astype(dt), 1)
        return ops

    def __call__(self, x, ops: Optional[dict] = None):
        ops = self.gemm_operands(x.dtype) if ops is None else ops
        if "gate_up" in ops:
            gate, up = jnp.split(dense(x, ops["gate_up"]), 2, axis=-1)
        else:
            gate, up = dense(x, ops["gate"]), dense(x, ops["up"])
        h = jax.nn.silu(gate) * up
        h = constrain(h, ("act_batch", "act_length", "act_mlp"), self.mesh)
        return dense(h, ops["down"])


class DecoderLayer(nnx.Module):
    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs, mesh: Optional[Mesh]):
        self.mesh = mesh
        self.input_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, dtype=cfg.param_dtype)
        self.attn = Attention(cfg, rngs=rngs, mesh=mesh)
        self.post_attn_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, dtype=cfg.param_dtype)
        self.mlp = MLP(cfg, rngs=rngs, mesh=mesh)

    def gemm_operands(self, dt, pack: Callable = _unpacked) -> dict:
        return {"attn": self.attn.gemm_operands(dt, pack), "mlp": self.mlp.gemm_operands(dt, pack)}

    def __call__(self, x, cos, sin, mask, kv, layer, index, ops: Optional[dict] = None, cpu_kernels: bool = False):
        ops = ops or {}
        h, kv = self.attn(self.input_norm(x), cos, sin, mask, kv, layer, index, ops.get("attn"), cpu_kernels)
        x = x + h
        x = x + self.mlp(self.post_attn_norm(x), ops.get("mlp"))
        return constrain(x, ("act_batch", "act_length", "act_embed"), self.mesh), kv


_REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


def _stacked_layers(cfg: ModelConfig, rngs: nnx.Rngs, mesh: Optional[Mesh]) -> DecoderLayer:
    """One DecoderLayer whose parameters carry a leading [num_layers] axis."""

    @nnx.split_rngs(splits=cfg.num_layers)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def create(r):
        return DecoderLayer(cfg, rngs=r, mesh=mesh)

    layers = create(rngs)
    for _, var in nnx.iter_graph(layers):
        if isinstance(var, nnx.Param):
            var.set_metadata(axes=("layers",) + tuple(var.get_metadata()["axes"]))
    return layers


# ---- the model -----------------------------------------------------------------------------------


class DecoderModel(nnx.Module):
    """Decoder backbone with either an LM head (logits [B, T, V]) or a reward head (rewards [B])."""

    def __init__(self, config: ModelConfig, *, head: str = "lm", mesh: Optional[Mesh] = None,
                 rngs: Optional[nnx.Rngs] = None):
        if head not in HEADS:
            raise ValueError(f"head={head!r}; expected one of {HEADS}")
        rngs = rngs or nnx.Rngs(0)
        cfg, pd = config, config.param_dtype
        self.config, self.head, self.mesh = cfg, head, mesh
        self.embed = _param(rngs, (cfg.vocab_size, cfg.hidden_size), ("vocab", "embed"), pd)
        self.layers = _stacked_layers(cfg, rngs, mesh)
        self.final_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, dtype=pd)
        if head == "lm" and not cfg.tie_word_embeddings:
            self.lm_head = _param(rngs, (cfg.hidden_size, cfg.vocab_size), ("embed", "vocab"), pd)
        if head == "reward":
            self.reward_kernel = _param(rngs, (cfg.hidden_size, 1), ("embed", "reward"), pd,
                                        std=1.0 / np.sqrt(cfg.hidden_size + 1))
            self.reward_bias = _param(rngs, (1,), ("reward",), pd, std=0)

    # -- backbone --

    def decode_weights(self, cpu_kernels: bool = False) -> DecodeWeights:
        """Every GEMM weight of the LM, fused, cast and sliced per layer as the forward reads them,
        for `hidden_states(..., weights=)` and `logits(..., weights=)`.

        Made once outside a loop that runs the model repeatedly (the sampler, per parameter set):
        on XLA:CPU a program that slices the layer stack copies those weights every time it runs
        (a copy per decode step), while prepared weights are plain inputs. `cpu_kernels` packs them
        for the float32 packed-panel kernel and runs the decode attention as an FFI kernel too
        (acecoder_jax/kernels; needs `kernels.cpu.available()`)."""
        cfg = self.config
        if cfg.scan_layers:
            raise ValueError("decode_weights needs unrolled layers (scan_layers=False)")
        dt = jnp.dtype(cfg.compute_dtype)
        pack = packed_matmul.pack if cpu_kernels else _unpacked
        graphdef, layer_state = nnx.split(self.layers)
        layers = tuple(nnx.merge(graphdef, jax.tree.map(lambda a: a[i], layer_state)).gemm_operands(dt, pack)
                       for i in range(cfg.num_layers))
        head = pack(self._lm_head_kernel().astype(dt), 1) if self.head == "lm" else None
        return DecodeWeights(layers=layers, lm_head=head, cpu_kernels=cpu_kernels)

    def hidden_states(self, input_ids, attention_mask, cache: Optional[KVCache] = None, *,
                      weights: Optional[DecodeWeights] = None):
        """Final-norm hidden states [B, T, E] and the updated cache (None without one).

        `weights`: from `decode_weights()` (unrolled layers only), made once outside a loop that
        calls this repeatedly."""
        cfg = self.config
        dt = jnp.dtype(cfg.compute_dtype)
        input_ids = jnp.asarray(input_ids, jnp.int32)
        attention_mask = jnp.asarray(attention_mask).astype(bool)
        b, t = input_ids.shape
        step_pos = jnp.cumsum(attention_mask, axis=-1, dtype=jnp.int32) - 1
        if cache is None:
            positions = jnp.maximum(step_pos, 0)
            slots = jnp.arange(t)
            mask = (slots[None, :] <= slots[:, None])[None, None] & attention_mask[:, None, None, :]
            kv, index = None, 0
        else:
            positions = jnp.maximum(cache.valid.sum(-1, dtype=jnp.int32)[:, None] + step_pos, 0)
            valid = jax.lax.dynamic_update_slice_in_dim(cache.valid, attention_mask, cache.index, axis=1)
            slots = jnp.arange(valid.shape[1])
            q_slots = cache.index + jnp.arange(t)
            mask = (slots[None, :] <= q_slots[:, None])[None, None] & valid[:, None, None, :]
            kv, index = (cache.k, cache.v), cache.index

        x = jnp.take(self.embed[...], input_ids, axis=0).astype(dt)
        x = constrain(x, ("act_batch", "act_length", "act_embed"), self.mesh)
        cos, sin = rope_tables(positions, rope_inv_freq(cfg), dt)

        graphdef, layer_state = nnx.split(self.layers)

        cpu_kernels = weights is not None and weights.cpu_kernels

        def apply_layer(state, x, kv, layer, ops=None):
            return nnx.merge(graphdef, state)(x, cos, sin, mask, kv, layer, index, ops, cpu_kernels)

        if cfg.remat != "none":
            apply_layer = jax.checkpoint(apply_layer, policy=_REMAT_POLICIES[cfg.remat])

        if cfg.scan_layers:  # the stacked cache rides in the carry so its updates stay in place
            if weights is not None:
                raise ValueError("weights= needs unrolled layers (scan_layers=False)")

            def body(carry, xs):
                x, kv = carry
                state, layer = xs
                return apply_layer(state, x, kv, layer), None

            (x, kv), _ = jax.lax.scan(body, (x, kv), (layer_state, jnp.arange(cfg.num_layers)))
        else:  # each layer owns its cache arrays
            new_k, new_v = [], []
            for i in range(cfg.num_layers):
                layer_kv = None if kv is None else (kv[0][i], kv[1][i])
                state = jax.tree.map(lambda a: a[i], layer_state)  # its GEMM weights unread with `weights`
                x, layer_kv = apply_layer(state, x, layer_kv, None, None if weights is None else weights.layers[i])
                if layer_kv is not None:
                    new_k.append(layer_kv[0])
                    new_v.append(layer_kv[1])
            kv = None if kv is None else (tuple(new_k), tuple(new_v))

        x = self.final_norm(x)
        if cache is not None:
            cache = KVCache(k=kv[0], v=kv[1], valid=valid, index=cache.index + t)
        return x, cache

    # -- heads --

    def _lm_head_kernel(self) -> jax.Array:
        return self.embed[...].T if self.config.tie_word_embeddings else self.lm_head[...]

    def logits(self, hidden: jax.Array, weights: Optional[DecodeWeights] = None) -> jax.Array:
        """LM logits in float32 from hidden states [..., E]."""
        w = weights.lm_head if weights is not None else self._lm_head_kernel().astype(hidden.dtype)
        out = dense(hidden, w, preferred_element_type=jnp.float32)
        return constrain(out, ("act_batch", "act_length", "act_vocab")[-out.ndim:], self.mesh) if out.ndim == 3 else out

    def rewards(self, hidden: jax.Array, attention_mask) -> jax.Array:
        """One scalar per row, read at the last non-pad token (right-most mask==1 position)."""
        attention_mask = jnp.asarray(attention_mask).astype(jnp.int32)
        t = attention_mask.shape[1]
        last = t - 1 - jnp.argmax(attention_mask[:, ::-1], axis=1)
        h = jnp.take_along_axis(hidden, last[:, None, None], axis=1)[:, 0]
        r = dense(h, self.reward_kernel[...].astype(h.dtype), preferred_element_type=jnp.float32)
        return r[:, 0] + self.reward_bias[0].astype(jnp.float32)

    def __call__(self, input_ids, attention_mask):
        hidden, _ = self.hidden_states(input_ids, attention_mask)
        if self.head == "lm":
            return self.logits(hidden)
        return self.rewards(hidden, attention_mask)
