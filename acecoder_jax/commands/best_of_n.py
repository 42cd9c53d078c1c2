"""Best-of-N reranking: sample N programs per problem, score with a reward model, execute, report.

python launch/best_of_n.py --config=configs/best_of_n.py:paper_bo16 \
  --config.policy.hf_path=gs://b/qwen-coder-7b-instruct --config.reward_model.hf_path=gs://b/acecoderm-7b \
  --workdir=gs://b/runs/bo16
Writes results.json, results.md, best_of_n.png and samples.jsonl into --workdir.
"""
from absl import app, flags

from acecoder_jax import cli

_DEFAULT = cli.config_path("best_of_n.py") + ":cpu_tiny"
CONFIG = cli.define_config(_DEFAULT, "Best-of-N")
WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (local or gs://).")
flags.mark_flag_as_required("workdir")


def run(config, workdir: str) -> dict:
    from acecoder_jax.data.io import write_json, write_records
    from acecoder_jax.evaluation.benchmarks import load_benchmark
    from acecoder_jax.evaluation.report import make_run, write_report
    from acecoder_jax.parallel import initialize_multihost
    from acecoder_jax.rm.best_of_n import rerank

    initialize_multihost()
    b = config.benchmark
    kw = {"limit": b.limit} if b.limit and b.name == "humaneval" else {}
    bench = load_benchmark(b.name, b.path or None, **kw)
    summary, records = rerank(bench.problems[: b.limit] if b.limit else bench.problems, config)
    summary["skipped_problems"] = [list(s) for s in bench.skipped]
    run_ = make_run(summary, benchmark=bench.name, policy=config.policy.hf_path,
                    reward_model=config.reward_model.hf_path)
    write_report(workdir, [run_])
    write_records(workdir.rstrip("/") + "/samples.jsonl", records)
    write_json(workdir.rstrip("/") + "/config.json", config.to_dict())
    return run_


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    out = run(CONFIG.value, WORKDIR.value)
    print({k: out[k] for k in ("greedy", "mean_over_samples", "best_of_n", "oracle_pass_at_n")})


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
