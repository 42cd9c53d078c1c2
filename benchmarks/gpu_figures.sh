#!/usr/bin/env bash
# Accelerator figures in one go (run on a GPU host from the repo root):
#   MFU of a Bradley-Terry train step (fp32 params, bf16 compute, ~0.8B Qwen2-shaped model) and
#   sampler tokens/s at bf16. Each line is one JSON record; failures print and continue.
set -u
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$(pwd)" PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.92
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true
python3 -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
for impl in cudnn xla; do
  python3 benchmarks/model_step.py --device_only --preset=bench-1b --dtype=bfloat16 --pairs=16 --seq=1024 \
    --steps=5 --warmup=2 --attention_impl=$impl || echo "{\"model_step_failed\": \"$impl\"}"
done
python3 benchmarks/model_step.py --device_only --preset=bench-1b --dtype=bfloat16 --pairs=16 --seq=1024 \
  --steps=5 --warmup=2 --attention_impl=cudnn --remat=dots_no_batch || true
python3 benchmarks/sampler_vs_hf.py --device_only --preset=bench-1b --layers=16 --dtype=bfloat16 \
  --batches=64,256 --prompt_len=64 --new_tokens=128 --repeats=3 || echo '{"sampler_failed": true}'
