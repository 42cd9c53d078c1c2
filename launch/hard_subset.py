"""The RL hard subset: mean pass rate <= median, then std >= median of the remainder.

python launch/hard_subset.py --input=ACECODE.jsonl --output=HARD.jsonl
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from absl import flags  # noqa: E402

from acecoder_jax import cli  # noqa: E402

import _data_flags as f  # noqa: E402

flags.mark_flags_as_required(["input", "output"])


def main(argv):
    del argv
    from acecoder_jax.data import stages
    f.print_stats(stages.run_hard_subset(f.CONFIG.value, f.inputs(), f.OUTPUT.value, f.OVERWRITE.value))


if __name__ == "__main__":
    cli.run(main)
