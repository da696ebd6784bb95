"""Normalised Hermite functions psi_n(x), the 1D harmonic-oscillator eigenstates.

psi_n(x) = (2^n n! sqrt(pi))^{-1/2} H_n(x) exp(-x^2 / 2) for hbar = m = omega = 1,
evaluated by the normalised three-term recurrence (never the raw Hermite
polynomials, whose values and coefficients overflow): with
psi_n = u_n exp(-x^2 / 2) pi^{-1/4},

    u_0 = 1,  u_1 = sqrt(2) x,
    u_{n+1} = sqrt(2 / (n + 1)) x u_n - sqrt(n / (n + 1)) u_{n-1}.

The pair (u_{n-1}, u_n) is renormalised at every step and the scale carried
as a logarithm, so log|psi_n| is finite for any n and x (the Gaussian factor
is added in log space). Everything is a smooth JAX function of x, so the
derivatives a local energy needs come from autodiff.
"""

import math

import jax
import jax.numpy as jnp

_LOG_PI_QUARTER = 0.25 * math.log(math.pi)  # a Python float: an array made at import would fix its dtype


def _recurrence(x, levels: int):
    """Scaled u_n and their log scales for n = 0..levels-1; arrays of shape (levels, *x.shape)."""
    x = jnp.asarray(x)

    def step(carry, n):
        previous, current, log_scale = carry
        following = jnp.sqrt(2.0 / (n + 1.0)) * x * current - jnp.sqrt(n / (n + 1.0)) * previous
        norm = jnp.abs(current) + jnp.abs(following)
        return (current / norm, following / norm, log_scale + jnp.log(norm)), (current, log_scale)

    start = (jnp.zeros_like(x), jnp.ones_like(x), jnp.zeros_like(x))
    _, (values, log_scales) = jax.lax.scan(step, start, jnp.arange(levels, dtype=x.dtype))
    return values, log_scales


def hermite_functions(x, levels: int):
    """psi_0(x) ... psi_{levels-1}(x), shape (levels, *x.shape)."""
    values, log_scales = _recurrence(x, levels)
    return values * jnp.exp(log_scales - 0.5 * jnp.asarray(x) ** 2 - _LOG_PI_QUARTER)


def log_abs_hermite(n, x, levels: int):
    """log|psi_{n}(x)| elementwise for integer levels n < `levels` (same shape as x)."""
    values, log_scales = _recurrence(x, levels)
    value = jnp.take_along_axis(values, n[None], axis=0)[0]
    log_scale = jnp.take_along_axis(log_scales, n[None], axis=0)[0]
    return jnp.log(jnp.abs(value)) + log_scale - 0.5 * jnp.asarray(x) ** 2 - _LOG_PI_QUARTER


def log_abs_combination(coefficients, x, levels: int):
    """log|sum_m c_m psi_m(x)| elementwise; coefficients of shape (levels, *x.shape).

    The terms are summed at the largest scale of the recurrence, so the
    combination stays finite wherever the single functions do.
    """
    values, log_scales = _recurrence(x, levels)
    top = jax.lax.stop_gradient(jnp.max(log_scales, axis=0))
    total = jnp.sum(coefficients * values * jnp.exp(log_scales - top), axis=0)
    return jnp.log(jnp.abs(total)) + top - 0.5 * jnp.asarray(x) ** 2 - _LOG_PI_QUARTER
