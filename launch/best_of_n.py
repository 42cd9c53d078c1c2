"""Best-of-N reranking: sample N programs per problem, score with a reward model, execute, report.

python launch/best_of_n.py --config=configs/best_of_n.py:paper_bo16 \
  --config.policy.hf_path=gs://b/qwen-coder-7b-instruct --config.reward_model.hf_path=gs://b/acecoderm-7b \
  --workdir=gs://b/runs/bo16
Writes results.json, results.md, best_of_n.png and samples.jsonl into --workdir.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from absl import app, flags  # noqa: E402
from acecoder_jax import cli  # noqa: E402
from acecoder_jax.errors import ConfigError  # noqa: E402

_DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "best_of_n.py") + ":cpu_tiny"
CONFIG = cli.define_config(_DEFAULT, "Best-of-N")
WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (local or gs://).")
flags.mark_flag_as_required("workdir")


def run(config, workdir: str) -> dict:
    from acecoder_jax.execution import build_executor
    from acecoder_jax.data.io import write_json, write_records
    from acecoder_jax.evaluation.benchmarks import load_benchmark
    from acecoder_jax.evaluation.report import make_run, write_report
    from acecoder_jax.models import load_hf
    from acecoder_jax.parallel import initialize_multihost, make_mesh
    from acecoder_jax.rm.best_of_n import BestOfNSettings, evaluate_best_of_n
    from acecoder_jax.rm.scoring import load_reward_scorer
    from acecoder_jax.sampling import Sampler
    from acecoder_jax.tokenization import load_tokenizer, pad_token_id, stop_token_ids, tokenizer_path

    initialize_multihost()
    for name in ("policy", "reward_model"):
        if not config[name].hf_path:
            raise ConfigError(f"config.{name}.hf_path is empty: give --config.{name}.hf_path=DIR (local, "
                              "gs:// or a Hugging Face Hub id)")
    mesh = make_mesh(tuple(config.mesh.shape))
    policy_tok, rm_tok = (load_tokenizer(tokenizer_path(config[name].tokenizer, config[name].hf_path,
                                                        f"config.{name}.tokenizer", f"config.{name}.hf_path"))
                          for name in ("policy", "reward_model"))
    policy, _ = load_hf(config.policy.hf_path, head="lm", mesh=mesh, param_dtype=config.policy.param_dtype)

    b = config.benchmark
    kw = {"limit": b.limit} if b.limit and b.name == "humaneval" else {}
    bench = load_benchmark(b.name, b.path or None, **kw)
    problems = bench.problems[: b.limit] if b.limit else bench.problems

    sampler = Sampler(policy, policy_tok, batch_size=config.sampler.batch_size,
                      prompt_buckets=tuple(config.sampler.prompt_buckets), pad_id=pad_token_id(policy_tok))
    scorer = load_reward_scorer(config.reward_model.hf_path, rm_tok, mesh=mesh, batch_size=config.reward_model.batch_size,
                                max_length=config.reward_model.max_length, param_dtype=config.reward_model.param_dtype)
    bon = config.bon
    settings = BestOfNSettings(n=bon.n, temperature=bon.temperature, top_p=bon.top_p,
                               max_new_tokens=bon.max_new_tokens, seed=bon.seed, timeout_s=bon.timeout_s,
                               selection=bon.selection, template=bon.template)
    with build_executor(config.execution, progress=config.progress) as executor:
        summary, records = evaluate_best_of_n(problems, sampler, scorer, executor, settings,
                                              stop_token_ids=stop_token_ids(policy_tok), progress=config.progress)
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


if __name__ == "__main__":
    cli.run(main)
