"""STAND-IN policy samples for pipeline demos and stats: the seed program plus AST mutants of it.

Not model samples: every line is labelled model_name="mutant-standin".
python launch/mutant_completions.py --input=filtered.jsonl --output=standin_completions.jsonl --per_question=8
"""
from absl import flags

from acecoder_jax import cli

INPUT = flags.DEFINE_string("input", None, "AceCode jsonl with seed_program fields.")
OUTPUT = flags.DEFINE_string("output", None, "Completions jsonl to write.")
PER_QUESTION = flags.DEFINE_integer("per_question", 8, "Completions per question (1 seed + mutants).")
SEED = flags.DEFINE_integer("seed", 0, "Mutant shuffling seed.")
flags.mark_flags_as_required(["input", "output"])


def main(argv):
    del argv
    from acecoder_jax.data import io, mutants
    records = [r for p in io.expand_inputs(INPUT.value) for r in io.read_records(p)]
    n = io.write_jsonl(OUTPUT.value, mutants.stand_in_completions(records, PER_QUESTION.value, SEED.value))
    print(f'{{"completions": {n}, "questions": {len(records)}, "model_name": "{mutants.STAND_IN_MODEL}"}}')


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
