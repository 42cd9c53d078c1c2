"""`python launch/attach_inferences.py` = `python -m acecoder_jax.commands.attach_inferences` (its docstring is this script's --help)."""
from acecoder_jax.commands import attach_inferences as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
