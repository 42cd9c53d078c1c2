"""The RL hard subset: mean pass rate <= median, then std >= median of the remainder.

python launch/hard_subset.py --input=ACECODE.jsonl --output=HARD.jsonl
"""
from acecoder_jax.commands import data_flags

entry = data_flags.stage_entry("run_hard_subset", shards=False)

if __name__ == "__main__":
    entry()
