"""Train a reward model (Bradley-Terry); rerun with the same --workdir to resume.

python launch/train_rm.py --config=configs/rm.py:cpu_tiny --config.data.train=FILE --workdir=DIR
Multi-host: set JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID (or ACECODER_MULTIHOST=1).
"""
from acecoder_jax.commands import training_entry

entry = training_entry('rm.py:cpu_tiny', 'bradley_terry')

if __name__ == "__main__":
    entry()
