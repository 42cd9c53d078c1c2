"""Train a LM fine-tuning on response tokens; rerun with the same --workdir to resume.

python launch/train_lm.py --config=configs/lm.py:cpu_tiny --config.data.train=FILE --workdir=DIR
Multi-host: set JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID (or ACECODER_MULTIHOST=1).
"""
from acecoder_jax.commands import training_entry

entry = training_entry('lm.py:cpu_tiny', 'lm')

if __name__ == "__main__":
    entry()
