"""`python launch/pipeline.py` = `python -m acecoder_jax.commands.pipeline` (its docstring is this script's --help)."""
from acecoder_jax.commands import pipeline as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
