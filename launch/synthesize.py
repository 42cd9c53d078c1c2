"""Stage 1: seeds -> LeetCode-style questions + assert tests (AceCode records).

python launch/synthesize.py --output=/tmp/run/synth.jsonl [--config=configs/data.py:toy] [--input=SEEDS]
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from absl import flags  # noqa: E402

from acecoder_jax import cli  # noqa: E402

import _data_flags as f  # noqa: E402

flags.mark_flag_as_required("output")


def main(argv):
    del argv
    from acecoder_jax.data import stages
    cfg = f.CONFIG.value
    f.print_stats(stages.run_synthesize(cfg, f.inputs(required=cfg.seeds.kind != "toy"), f.OUTPUT.value,
                                        f.WORKDIR.value, f.OVERWRITE.value))


if __name__ == "__main__":
    cli.run(main)
