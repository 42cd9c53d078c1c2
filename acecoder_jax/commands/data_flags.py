"""Shared absl flags of the data-pipeline launch scripts (config file, input, output, workdir)."""
from typing import Callable

from absl import flags

from acecoder_jax import cli

_CONFIG = cli.config_path("data.py")

CONFIG = cli.define_config(_CONFIG + ":toy", "Data pipeline")
INPUT = flags.DEFINE_string("input", None, "Input file(s): comma-separated paths or globs, local or gs://.")
OUTPUT = flags.DEFINE_string("output", None, "Output .jsonl path (stats and rejects are written next to it).")
WORKDIR = flags.DEFINE_string("workdir", None, "Directory for resumable shards (default: <output>.shards).")
OVERWRITE = flags.DEFINE_bool("overwrite", False, "Discard finished shards / outputs and start over.")


def inputs(required: bool = True):
    from acecoder_jax.data import io
    if not INPUT.value:
        if required:
            raise flags.IllegalFlagValueError("--input is required")
        return None
    return io.expand_inputs(INPUT.value)


def print_stats(stats: dict) -> None:
    import json
    print(json.dumps(stats, sort_keys=True))


def stage_entry(runner: str, *, shards: bool = True) -> Callable[[], None]:
    """The entry() of a data stage run by `stages.<runner>(config, inputs, output[, workdir],
    overwrite)`: --input and --output required, the stage's stats printed as one JSON line."""
    flags.mark_flags_as_required(["input", "output"])

    def main(argv):
        del argv
        from acecoder_jax.data import stages

        workdir = (WORKDIR.value,) if shards else ()
        print_stats(getattr(stages, runner)(CONFIG.value, inputs(), OUTPUT.value, *workdir, OVERWRITE.value))

    return lambda: cli.run(main)
