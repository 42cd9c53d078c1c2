"""Stage 2: proxy filter. Keep the tests a proxy solution passes; drop questions left with too few.

python launch/filter_tests.py --input=synth.jsonl --output=filtered.jsonl [--config.proxy.min_tests=5]
"""
from acecoder_jax.commands import data_flags

entry = data_flags.stage_entry("run_proxy_filter")

if __name__ == "__main__":
    entry()
