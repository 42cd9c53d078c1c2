"""`python launch/best_of_n.py` = `python -m acecoder_jax.commands.best_of_n` (its docstring is this script's --help)."""
from acecoder_jax.commands import best_of_n as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
