"""The recipes (ml_collections config files), installed as acecoder_jax.configs; each file is loaded by path
(`--config=configs/FILE.py:VARIANT`), not imported as a module."""
