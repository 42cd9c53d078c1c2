"""Train a LM fine-tuning on response tokens; rerun with the same --workdir to resume.

python launch/train_lm.py --config=configs/lm.py:cpu_tiny --config.data.train=FILE --workdir=DIR
Multi-host: set JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID (or ACECODER_MULTIHOST=1).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from absl import app, flags  # noqa: E402
from acecoder_jax import cli  # noqa: E402

_DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "lm.py") + ":cpu_tiny"
CONFIG = cli.define_config(_DEFAULT, "Training")
WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (local or gs://): checkpoints, metrics, export.")
flags.mark_flag_as_required("workdir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from acecoder_jax.train.run import run_training

    run_training(CONFIG.value, WORKDIR.value, objective_name="lm")


if __name__ == "__main__":
    cli.run(main)
