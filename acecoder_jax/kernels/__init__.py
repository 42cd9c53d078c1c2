"""Hand-written kernels for shapes XLA's own kernels serve poorly (see each module)."""
