"""Policy-gradient RL on coding problems; rerun with the same --workdir to resume.

python launch/train_rl.py --config=configs/rl.py:cpu_toy --config.model.tokenizer=TOK --config.model.hf_path=SFT_HF \
    --workdir=DIR
python launch/train_rl.py --config=configs/rl.py:paper_base_rule_r1 --config.data.train=gs://.../hard.jsonl \
    --workdir=gs://.../runs/rl
Multi-host: set JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID (or ACECODER_MULTIHOST=1).
Touch <workdir>/EXPORT_NOW to export the policy at the next step boundary.
"""
from absl import app

from acecoder_jax import cli
from acecoder_jax.commands import define_workdir

_DEFAULT = cli.config_path("rl.py") + ":cpu_toy"
CONFIG = cli.define_config(_DEFAULT, "RL")
WORKDIR, ALLOW_CONFIG_CHANGE = define_workdir()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from acecoder_jax.rl.trainer import run_rl

    result = run_rl(CONFIG.value, WORKDIR.value, allow_config_change=ALLOW_CONFIG_CHANGE.value)
    print(f"RL done: {result.steps_done} steps (resumed from {result.resumed_from})")


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
