"""`python launch/hard_subset.py` = `python -m acecoder_jax.commands.hard_subset` (its docstring is this script's --help)."""
from acecoder_jax.commands import hard_subset as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
