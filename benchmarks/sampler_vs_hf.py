"""Greedy decoding throughput: this sampler vs `transformers` generate, same weights, same CPU, same run.

Fixed config so runs compare: Qwen2-shaped, vocab 32000, hidden 512, 4 layers, 8 heads / 2 KV heads,
intermediate 1408, fp32; prompts of 64 tokens, 128 new tokens, greedy; batch 8 and batch 32, each
timed alternately, median of 3 after warm-up. Checks both produce the same tokens. The roofline is
streaming the decode-step weights once per step at the memory bandwidth measured here: after every
timed round, so the readings see the same neighbours' load as the runs, the fastest of several
sustained reads of 512 MiB (BandwidthProbe; each probe's median is printed). roofline_fraction
compares medians with medians (tokens/s, readings); roofline_fraction_best_bw divides by the best
reading; roofline_fraction_weights_sized_read by a sustained read of a weights-sized matrix, which
caches can partly hold.

  python benchmarks/sampler_vs_hf.py
  python benchmarks/sampler_vs_hf.py --device_only --preset=bench-1b --dtype=bfloat16 --batch=64
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

from acecoder_jax.kernels import cpu as cpu_kernels, packed_matmul
from acecoder_jax.models import export_hf, init_model, load_hf, preset
from acecoder_jax.sampling import Sampler, SamplingParams


class BandwidthProbe:
    """Memory bandwidth of this machine in GB/s, read the way a decode streams its weights: back-to-
    back reads for `window` seconds (about one timed generation of 128 steps), best of two windows.

    The bandwidth is that of 512 MiB buffers, past any cache (STREAM's rule: 4x the last-level
    cache; the 2-core VM reports 32 MiB of L3, and reads of a weights-sized 110 MB buffer run up
    to ~100 GB/s in quiet spells, faster than its memory, so part of such a buffer stays cached).
    The fastest of three reads counts: XLA's reduction, numpy summing one slice per core in
    threads, and, where it is built, the packed-matmul kernel at a single row (a pure read of a
    matrix). The same kernel's sustained read of a weights-sized matrix is reported alongside."""

    def __init__(self, step_bytes: int, window: float = 0.25):
        self.window = window
        n = 128 * 1024 * 1024  # float32s in 512 MiB
        self.device = jnp.ones((n,), jnp.float32)
        self.sum = jax.jit(jnp.sum)
        self.on_cpu = jax.default_backend() == "cpu"  # the host probes measure the accelerator only there
        self.host = np.ones((n if self.on_cpu else 0,), np.float32)
        self.kernel = None
        if self.on_cpu and cpu_kernels.available():
            k = 512
            self.kernel = (jax.jit(packed_matmul.matmul), jnp.ones((1, k), jnp.float32),
                           packed_matmul.pack(jnp.ones((k, n // k), jnp.float32)),
                           packed_matmul.pack(jnp.ones((k, step_bytes // 4 // k), jnp.float32)))

    def _sustained(self, fn, nbytes: int) -> float:
        """GB/s of `fn` (one blocking read of `nbytes`) repeated for `window` seconds."""
        fn()
        t = time.perf_counter()
        fn()
        reads = max(1, int(self.window / (time.perf_counter() - t)))
        windows = []
        for _ in range(2):
            t = time.perf_counter()
            for _ in range(reads):
                fn()
            windows.append((time.perf_counter() - t) / reads)
        return nbytes / min(windows) / 1e9

    def read(self) -> dict:
        """{probe: GB/s}; "weights_sized_read" is not a memory-bandwidth probe."""
        chunks = np.array_split(self.host, os.cpu_count() or 1)

        def numpy_threads():
            threads = [threading.Thread(target=c.sum) for c in chunks]
            [t.start() for t in threads]
            [t.join() for t in threads]

        out = {"xla_sum": self._sustained(lambda: self.sum(self.device).block_until_ready(), self.device.nbytes)}
        if self.on_cpu:
            out["numpy_threads"] = self._sustained(numpy_threads, self.host.nbytes)
        if self.kernel is not None:
            f, x, big, weights_sized = self.kernel
            out["packed_gemv_m1"] = self._sustained(lambda: f(x, big).block_until_ready(), big.panels.nbytes)
            out["weights_sized_read"] = self._sustained(lambda: f(x, weights_sized).block_until_ready(),
                                                        weights_sized.panels.nbytes)
        return out


def decode_step_bytes(cfg) -> int:
    """Bytes of weights a decode step must read: every matrix once (the embedding only by row)."""
    e, f, h, k, d, L = (cfg.hidden_size, cfg.intermediate_size, cfg.num_heads, cfg.num_kv_heads,
                        cfg.dim_per_head, cfg.num_layers)
    per_layer = e * h * d * 2 + e * k * d * 2 + 3 * e * f + 2 * e + (h + 2 * k) * d
    head = e * cfg.vocab_size
    return (L * per_layer + head + e) * jnp.dtype(cfg.param_dtype).itemsize


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="bench-cpu")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--prompt_len", type=int, default=64)
    ap.add_argument("--new_tokens", type=int, default=128)
    ap.add_argument("--batches", default="8,32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--device_only", action="store_true")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    cfg = preset(args.preset, num_layers=args.layers, param_dtype=args.dtype, compute_dtype=args.dtype)
    sp = SamplingParams(max_new_tokens=args.new_tokens, temperature=0)
    rng = np.random.RandomState(0)
    prompts = {b: rng.randint(3, cfg.vocab_size, (b, args.prompt_len)) for b in batches}

    with tempfile.TemporaryDirectory() as tmp:
        if args.device_only:
            model = init_model(cfg, seed=0)
            hf = None
        else:
            import torch

            torch.set_num_threads(os.cpu_count())
            export_hf(init_model(cfg, seed=0), cfg, tmp)  # one set of weights for both sides
            model, _ = load_hf(tmp, param_dtype=args.dtype)
            import transformers

            hf = transformers.AutoModelForCausalLM.from_pretrained(tmp, torch_dtype=torch.float32).eval()
            hf.generation_config.eos_token_id = None
            hf.generation_config.pad_token_id = 0

        probe = BandwidthProbe(decode_step_bytes(cfg))
        results, same, readings = {}, True, []
        for b in batches:
            sampler = Sampler(model, batch_size=b, prompt_buckets=(args.prompt_len,))
            ids = prompts[b]

            def ours():
                return [c[0].tokens for c in sampler.generate_ids(ids.tolist(), sp)]

            def theirs():
                with torch.no_grad():
                    t = torch.from_numpy(ids).long()
                    out = hf.generate(t, attention_mask=torch.ones_like(t), max_new_tokens=args.new_tokens,
                                      min_new_tokens=args.new_tokens, do_sample=False)
                return out[:, args.prompt_len:].numpy()

            ours_tokens = ours()  # warm-up (compiles)
            if hf is not None:
                hf_tokens = theirs()
                same &= bool(np.array_equal(np.stack(ours_tokens), hf_tokens))
            jt, ht = [], []
            for _ in range(args.repeats):  # alternate; pause so neither side's idle threads still spin
                time.sleep(0.3)
                t = time.perf_counter(); ours(); jt.append(time.perf_counter() - t)
                if hf is not None:
                    time.sleep(0.3)
                    t = time.perf_counter(); theirs(); ht.append(time.perf_counter() - t)
                readings.append(probe.read())
            toks = b * args.new_tokens
            results[b] = {"jax": toks / statistics.median(jt)}
            if hf is not None:
                results[b]["hf"] = toks / statistics.median(ht)

    step_bytes = decode_step_bytes(cfg)

    def bound(gbs: float) -> float:  # batch-b0 tokens/s if each decode step only streamed the weights
        return gbs * 1e9 / step_bytes * batches[0]

    memory = [max(v for k, v in r.items() if k != "weights_sized_read") for r in readings]
    bw = statistics.median(memory)
    b0, b1 = batches[0], batches[-1]
    out = {
        "backend": jax.default_backend(), "device": jax.devices()[0].device_kind, "dtype": args.dtype,
        "batch": b0, "jax_tokens_per_s": round(results[b0]["jax"], 1),
        f"jax_tokens_per_s_b{b1}": round(results[b1]["jax"], 1),
        "bandwidth_gb_s": round(bw, 1),
        "bandwidth_gb_s_range": [round(min(memory), 1), round(max(memory), 1)],
        "bandwidth_probes_gb_s": {k: round(statistics.median(r[k] for r in readings), 1) for k in readings[0]},
        "decode_step_mb": round(step_bytes / 1e6, 1),
        "roofline_tokens_per_s": round(bound(bw), 1),
        "roofline_fraction": round(results[b0]["jax"] / bound(bw), 3),
        "roofline_fraction_best_bw": round(results[b0]["jax"] / bound(max(memory)), 3),
    }
    if "weights_sized_read" in readings[0]:
        out["roofline_fraction_weights_sized_read"] = round(
            results[b0]["jax"] / bound(statistics.median(r["weights_sized_read"] for r in readings)), 3)
    if not args.device_only:
        out.update({
            "hf_tokens_per_s": round(results[b0]["hf"], 1), f"hf_tokens_per_s_b{b1}": round(results[b1]["hf"], 1),
            "ratio": round(results[b0]["jax"] / results[b0]["hf"], 3),
            f"ratio_b{b1}": round(results[b1]["jax"] / results[b1]["hf"], 3),
            "same_tokens": same,
        })
    if jax.default_backend() == "cpu":
        out["cpu_kernels"] = bool(sampler.cpu_kernels)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
