"""`python launch/filter_tests.py` = `python -m acecoder_jax.commands.filter_tests` (its docstring is this script's --help)."""
from acecoder_jax.commands import filter_tests as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
