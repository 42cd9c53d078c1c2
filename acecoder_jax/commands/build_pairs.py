"""Stage 4: AceCode records with inferences -> AceCodePair preference pairs.

python launch/build_pairs.py --input=ACECODE.jsonl --output=PAIRS.jsonl [--config.pairs.min_gap=0.4]
"""
from absl import flags

from acecoder_jax import cli
from acecoder_jax.commands import data_flags as f

flags.mark_flags_as_required(["input", "output"])


def main(argv):
    del argv
    from acecoder_jax.data import stages
    f.print_stats(stages.run_build_pairs(f.CONFIG.value, f.inputs(), f.OUTPUT.value, f.WORKDIR.value,
                                         f.OVERWRITE.value))


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
