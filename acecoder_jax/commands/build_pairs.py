"""Stage 4: AceCode records with inferences -> AceCodePair preference pairs.

python launch/build_pairs.py --input=ACECODE.jsonl --output=PAIRS.jsonl [--config.pairs.min_gap=0.4]
"""
from acecoder_jax.commands import data_flags

entry = data_flags.stage_entry("run_build_pairs")

if __name__ == "__main__":
    entry()
