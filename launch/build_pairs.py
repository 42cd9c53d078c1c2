"""`python launch/build_pairs.py` = `python -m acecoder_jax.commands.build_pairs` (its docstring is this script's --help)."""
from acecoder_jax.commands import build_pairs as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
