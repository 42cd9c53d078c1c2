"""`python launch/train_lm.py` = `python -m acecoder_jax.commands.train_lm` (its docstring is this script's --help)."""
from acecoder_jax.commands import train_lm as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
