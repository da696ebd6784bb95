"""Counting XLA compilations and floating-point operations (for tests and benchmarks).

Nothing here changes JAX's global state at import; the compile counter is a
context manager that listens to JAX's backend-compile events while it is open.
"""

import contextlib

import jax

BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"
LOWER_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"


class Compilations(list):
    """Names of the functions compiled, in order; `seconds` holds each compilation's duration, and
    `trace_seconds`, `lower_seconds` the total time JAX spent tracing to jaxprs and lowering to MLIR
    (the parts of a first call that precede XLA's compilation)."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self.trace_seconds = 0.0
        self.lower_seconds = 0.0


@contextlib.contextmanager
def count_compilations():
    """Yields a Compilations list that collects every function XLA compiles inside the block."""
    names = Compilations()

    def listener(event, duration_secs, **kwargs):
        if event == BACKEND_COMPILE_EVENT:
            names.append(str(kwargs.get("fun_name", "?")))
            names.seconds.append(float(duration_secs))
        elif event == TRACE_EVENT:
            names.trace_seconds += float(duration_secs)
        elif event == LOWER_EVENT:
            names.lower_seconds += float(duration_secs)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield names
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def compiled_flops(jitted, *args, **kwargs) -> float:
    """XLA's own count of floating-point operations of jitted(*args, **kwargs), from its cost analysis.

    XLA counts the body of a loop once whatever its trip count (checked on a fori_loop of matrix
    products: 1, 2 and 10 iterations give the same count), and it does not count library calls
    (LAPACK factorisations on CPU); callers add the loops' remaining iterations themselves."""
    analysis = jitted.lower(*args, **kwargs).compile().cost_analysis()
    if isinstance(analysis, (list, tuple)):  # older JAX: one dict per device program
        analysis = analysis[0]
    return float(analysis.get("flops", float("nan")))
