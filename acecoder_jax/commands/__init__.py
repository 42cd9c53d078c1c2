"""The command-line entry points: `python -m acecoder_jax.commands.NAME`, the `acecoder-NAME` console
scripts, or the thin `launch/NAME.py` wrappers (the documented top level) all run one `entry()`."""
