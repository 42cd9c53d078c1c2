"""Stage 1: seeds -> LeetCode-style questions + assert tests (AceCode records).

python launch/synthesize.py --output=/tmp/run/synth.jsonl [--config=configs/data.py:toy] [--input=SEEDS]
"""
from absl import flags

from acecoder_jax import cli
from acecoder_jax.commands import data_flags as f

flags.mark_flag_as_required("output")


def main(argv):
    del argv
    from acecoder_jax.data import stages
    cfg = f.CONFIG.value
    f.print_stats(stages.run_synthesize(cfg, f.inputs(required=cfg.seeds.kind != "toy"), f.OUTPUT.value,
                                        f.WORKDIR.value, f.OVERWRITE.value))


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
