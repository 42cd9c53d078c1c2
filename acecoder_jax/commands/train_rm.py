"""Train a reward model (Bradley-Terry); rerun with the same --workdir to resume.

python launch/train_rm.py --config=configs/rm.py:cpu_tiny --config.data.train=FILE --workdir=DIR
Multi-host: set JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID (or ACECODER_MULTIHOST=1).
"""
from absl import app, flags

from acecoder_jax import cli

_DEFAULT = cli.config_path("rm.py") + ":cpu_tiny"
CONFIG = cli.define_config(_DEFAULT, "Training")
WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (local or gs://): checkpoints, metrics, export.")
flags.mark_flag_as_required("workdir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from acecoder_jax.train.run import run_training

    run_training(CONFIG.value, WORKDIR.value, objective_name="bradley_terry")


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
