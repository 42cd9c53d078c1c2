"""One Bradley-Terry training step (forward + backward + AdamW): this stack vs PyTorch transformers.

Same CPU, same process, alternating steps, medians after warm-up. Fixed config so runs compare:
Qwen2-shaped, vocab 32000, hidden 512, 8 layers, 8 heads / 2 KV heads, intermediate 1408, fp32,
8 pairs (16 sequences) x 256 tokens. A 2048x512x1408 fp32 matmul, timed in both frameworks in the
same process, gives the machine's practical peak for cpu_mfu.

  python benchmarks/model_step.py                # the CPU comparison, one JSON line
  python benchmarks/model_step.py --device_only --preset=bench-1b --dtype=bfloat16 --pairs=16 --seq=1024
                                                  # accelerator MFU (no torch side)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from acecoder_jax.models import init_model, preset
from acecoder_jax.rm.loss import pairwise_rm_loss
from acecoder_jax.train.optimizer import adamw
from acecoder_jax.train.step import init_train_state, make_train_step

# Peak dense bf16 FLOP/s of accelerators we may be lent (vendor spec sheets, dense, no sparsity).
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def step_flops(cfg, tokens: int, seq: int) -> float:
    """Model FLOPs of fwd+bwd: 6 * matmul params * tokens + attention scores/values (full matrix)."""
    e, f, h, k, d, L = (cfg.hidden_size, cfg.intermediate_size, cfg.num_heads, cfg.num_kv_heads,
                        cfg.dim_per_head, cfg.num_layers)
    per_layer = e * h * d * 2 + e * k * d * 2 + 3 * e * f  # q,o + k,v + gate,up,down
    attn = 4 * seq * h * d  # QK^T and AV per token per layer
    return 3 * tokens * L * (2 * per_layer + attn)


def time_it(fn, *, sync):
    t = time.perf_counter()
    sync(fn())
    return time.perf_counter() - t


def matmul_peak(reps: int = 30) -> dict:
    """Best-of-`reps` FLOP/s of the fixed matmul in each framework (the best is the practical peak)."""
    a = np.random.RandomState(0).randn(2048, 512).astype(np.float32)
    b = np.random.RandomState(1).randn(512, 1408).astype(np.float32)
    flops = 2 * 2048 * 512 * 1408
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    mm = jax.jit(jnp.matmul)
    mm(ja, jb).block_until_ready()
    jt = min(time_it(lambda: mm(ja, jb), sync=lambda x: x.block_until_ready()) for _ in range(reps))
    out = {"jax_matmul_gflops": flops / jt / 1e9}
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        torch.matmul(ta, tb)
        tt = min(time_it(lambda: torch.matmul(ta, tb), sync=lambda x: x) for _ in range(reps))
        out["torch_matmul_gflops"] = flops / tt / 1e9
    except ImportError:
        pass
    return out


def make_batch(rng, pairs, seq, vocab):
    ids = rng.randint(3, vocab, (2, pairs, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    return {"chosen_ids": ids[0], "chosen_mask": mask[0], "rejected_ids": ids[1], "rejected_mask": mask[1]}


def jax_step_fn(cfg, batch):
    model = init_model(cfg, head="reward", seed=0)
    opt = adamw(1e-5, total_steps=1000, warmup_steps=10)
    graphdef, state = init_train_state(model, opt)
    step = make_train_step(graphdef, pairwise_rm_loss, opt)
    batch = jax.device_put(batch)
    holder = {"state": state}

    def run():
        holder["state"], metrics = step(holder["state"], batch)
        return metrics["loss"]

    return run


def torch_step_fn(cfg, batch):
    import torch
    import transformers

    torch.manual_seed(0)
    hf_cfg = transformers.Qwen2Config(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_kv_heads,
        rope_theta=cfg.rope_theta, num_labels=1, pad_token_id=0, max_position_embeddings=4096)
    model = transformers.Qwen2ForSequenceClassification(hf_cfg).float().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=0.0)
    ids = torch.from_numpy(np.concatenate([batch["chosen_ids"], batch["rejected_ids"]])).long()
    mask = torch.from_numpy(np.concatenate([batch["chosen_mask"], batch["rejected_mask"]])).long()
    p = batch["chosen_ids"].shape[0]

    def run():
        opt.zero_grad(set_to_none=True)
        r = model(input_ids=ids, attention_mask=mask).logits[:, 0]
        loss = -torch.nn.functional.logsigmoid(r[:p] - r[p:]).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="bench-cpu")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dtype", default="float32", help="compute dtype (params stay fp32)")
    ap.add_argument("--remat", default="none")
    ap.add_argument("--attention_impl", default="", help="'' (XLA picks), xla, cudnn")
    ap.add_argument("--device_only", action="store_true", help="skip the PyTorch side (accelerator MFU run)")
    args = ap.parse_args()

    cfg = preset(args.preset, compute_dtype=args.dtype, remat=args.remat, attention_impl=args.attention_impl or None)
    rng = np.random.RandomState(0)
    batch = make_batch(rng, args.pairs, args.seq, cfg.vocab_size)
    tokens = 2 * args.pairs * args.seq
    flops = step_flops(cfg, tokens, args.seq)

    # The practical peak first, before PyTorch's worker threads exist (they spin after each op).
    peak = None if args.device_only else matmul_peak()
    jax_run = jax_step_fn(cfg, batch)
    sync_jax = lambda x: x.block_until_ready()
    for _ in range(args.warmup):
        sync_jax(jax_run())
    torch_run = None
    if not args.device_only:
        import torch

        torch.set_num_threads(os.cpu_count())
        torch_run = torch_step_fn(cfg, batch)
        for _ in range(args.warmup):
            torch_run()
    jt, tt = [], []
    for _ in range(args.steps):  # alternate so drift hits both sides equally
        time.sleep(0.3)  # let the other framework's worker threads stop spinning before timing
        jt.append(time_it(jax_run, sync=sync_jax))
        if torch_run:
            time.sleep(0.3)
            tt.append(time_it(torch_run, sync=lambda x: x))
    j = statistics.median(jt)
    out = {
        "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "preset": args.preset, "dtype": args.dtype, "attention_impl": args.attention_impl or "auto",
        "remat": args.remat, "tokens_per_step": tokens,
        "jax_step_s": round(j, 4),
        "jax_tokens_per_s": round(tokens / j, 1),
        "model_tflops_per_s": round(flops / j / 1e12, 3),
    }
    if torch_run:
        t = statistics.median(tt)
        peak_gflops = max(peak.values())
        out.update({
            "torch_step_s": round(t, 4),
            "torch_tokens_per_s": round(tokens / t, 1),
            "ratio": round(t / j, 3),
            **{k: round(v, 1) for k, v in peak.items()},
            "cpu_mfu": round(flops / j / (peak_gflops * 1e9), 3),
            "torch_cpu_mfu": round(flops / t / (peak_gflops * 1e9), 3),
        })
    else:
        kind = jax.devices()[0].device_kind
        peak = next((v for k, v in PEAK_FLOPS.items() if k in kind), None)
        if peak:
            out["mfu"] = round(flops / j / peak, 3)
            out["peak_flops_assumed"] = peak
    print(json.dumps(out))


if __name__ == "__main__":
    main()
