"""The floating-point precision of a run, set for its duration and restored afterwards.

JAX holds precision in process-wide flags (``jax_enable_x64`` and
``jax_default_matmul_precision``). Set at import time, or by one run and left
behind, they silently change every later computation in the process: a float64
engine imported next to a float32 one switches both. :func:`use` sets them at
the start of a run and puts the previous values back when it ends, so runs of
different engines (or precisions) in one process do not leak into each other.
Arrays and compiled functions made inside keep their dtype; JAX keys its
compilation caches on the flag, so nothing compiled in float64 is reused in float32.
"""

import contextlib

import jax

PRECISIONS = ("float32", "float64")


def apply(precision: str) -> None:
    """float32 or float64 arrays from now on, matrix products at full precision (no TF32 on GPUs)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
    jax.config.update("jax_enable_x64", precision == "float64")
    jax.config.update("jax_default_matmul_precision", "highest")


@contextlib.contextmanager
def use(precision: str):
    """`apply(precision)` within the block; the previous flags restored after it."""
    previous_x64 = jax.config.jax_enable_x64
    previous_matmul = jax.config.jax_default_matmul_precision
    apply(precision)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous_x64)
        jax.config.update("jax_default_matmul_precision", previous_matmul)
