"""Stage 3: execute sampled completions against each question's tests and attach pass rates.

python launch/attach_inferences.py --input=filtered.jsonl --completions=samples.jsonl --output=acecode.jsonl
Completions jsonl: {"id": <question id>, "model_name", "completion_id"?, "completion"} per line.
"""
from absl import flags

from acecoder_jax import cli
from acecoder_jax.commands import data_flags as f

COMPLETIONS = flags.DEFINE_string("completions", None, "Completions jsonl (local or gs://).")
flags.mark_flags_as_required(["input", "output", "completions"])


def main(argv):
    del argv
    from acecoder_jax.data import stages
    f.print_stats(stages.run_attach_inferences(f.CONFIG.value, f.inputs(), COMPLETIONS.value, f.OUTPUT.value,
                                               f.WORKDIR.value, f.OVERWRITE.value))


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
