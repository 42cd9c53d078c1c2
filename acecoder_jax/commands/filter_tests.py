"""Stage 2: proxy filter. Keep the tests a proxy solution passes; drop questions left with too few.

python launch/filter_tests.py --input=synth.jsonl --output=filtered.jsonl [--config.proxy.min_tests=5]
"""
from absl import flags

from acecoder_jax import cli
from acecoder_jax.commands import data_flags as f

flags.mark_flags_as_required(["input", "output"])


def main(argv):
    del argv
    from acecoder_jax.data import stages
    f.print_stats(stages.run_proxy_filter(f.CONFIG.value, f.inputs(), f.OUTPUT.value, f.WORKDIR.value,
                                          f.OVERWRITE.value))


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
