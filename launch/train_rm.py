"""`python launch/train_rm.py` = `python -m acecoder_jax.commands.train_rm` (its docstring is this script's --help)."""
from acecoder_jax.commands import train_rm as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
