"""`python launch/mutant_completions.py` = `python -m acecoder_jax.commands.mutant_completions` (its docstring is this script's --help)."""
from acecoder_jax.commands import mutant_completions as _command

__doc__ = _command.__doc__

if __name__ == "__main__":
    _command.entry()
