"""The RL hard subset: mean pass rate <= median, then std >= median of the remainder.

python launch/hard_subset.py --input=ACECODE.jsonl --output=HARD.jsonl
"""
from absl import flags

from acecoder_jax import cli
from acecoder_jax.commands import data_flags as f

flags.mark_flags_as_required(["input", "output"])


def main(argv):
    del argv
    from acecoder_jax.data import stages
    f.print_stats(stages.run_hard_subset(f.CONFIG.value, f.inputs(), f.OUTPUT.value, f.OVERWRITE.value))


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
