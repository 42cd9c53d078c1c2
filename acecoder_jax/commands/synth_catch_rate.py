"""Reference synthesizer on HumanEval: tests per problem, validity, and the share of wrong variants
(mutants that HumanEval's own tests reject) the synthesized tests catch. Prints one JSON line.

python launch/synth_catch_rate.py [--mutants_per_problem=10] [--every=1]
"""
from absl import flags

from acecoder_jax import cli

MUTANTS = flags.DEFINE_integer("mutants_per_problem", 10, "Mutants drawn per problem.")
EVERY = flags.DEFINE_integer("every", 1, "Use every k-th problem (1 = all 164).")
NUM_TESTS = flags.DEFINE_integer("num_tests", 20, "Tests synthesized per problem.")


def main(argv):
    del argv
    import json
    import time

    from acecoder_jax.data import humaneval
    from acecoder_jax.execution import Executor
    from acecoder_jax.data.synthesis.catch_rate import catch_rate
    from acecoder_jax.data.synthesis.parser import check_test
    from acecoder_jax.data.synthesis.reference_backend import ReferenceSynthesizer

    problems = humaneval.load_problems()[:: EVERY.value]
    seeds = [humaneval.as_seed(p) for p in problems]
    ex = Executor("embedded")
    t0 = time.time()
    results = ReferenceSynthesizer(executor=ex, num_tests=NUM_TESTS.value).synthesize(seeds)
    synth_s = time.time() - t0
    ok = [r for r in results if r.ok]
    tests = {r.seed_id: r.tests for r in ok}
    check = ex.run([{"id": s["id"], "program": s["program"], "tests": tests[s["id"]]} for s in seeds if s["id"] in tests])
    official = {p["task_id"]: humaneval.official_tests(p) for p in problems}
    t0 = time.time()
    report = catch_rate(seeds, tests, ex, official=official, mutants_per_seed=MUTANTS.value)
    print(json.dumps({
        "problems": len(seeds), "with_tests": len(ok),
        "tests_per_problem": sum(len(r.tests) for r in ok) / max(1, len(ok)),
        "all_valid_asserts": all(check_test(t) is None for r in ok for t in r.tests),
        "all_pass_on_canonical": all(r["pass_rate"] == 1.0 for r in check.values()),
        "synthesis_s": round(synth_s, 1), "catch_rate_s": round(time.time() - t0, 1), **report}))


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
