"""`python launch/train_rl.py` = `python -m acecoder_jax.commands.train_rl` (its docstring is this script's --help)."""
from acecoder_jax.commands import train_rl as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
