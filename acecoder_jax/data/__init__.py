"""Data pipeline: record schemas, fsspec io, seed loaders, test synthesis, filters, pairs.

Submodules are imported explicitly by callers (``from acecoder_jax.data import io``) so that
importing the package stays cheap and pulls in neither JAX nor the sandbox.
"""
