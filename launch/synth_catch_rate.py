"""`python launch/synth_catch_rate.py` = `python -m acecoder_jax.commands.synth_catch_rate` (its docstring is this script's --help)."""
from acecoder_jax.commands import synth_catch_rate as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
