"""Metropolis sampling of q ~ |Psi_n(q)|^2 through the quasi-phonon coordinates.

Because Psi_n(q) = Phi_n(f(q)) |det df/dq|^{1/2} (Eq. 6), the change of
variables zeta = f(q) turns |Psi_n(q)|^2 dq into |Phi_n(zeta)|^2 d zeta: a
product over modes of |psi_{n_k}(zeta_k)|^2 that does not depend on theta.
The Metropolis walk therefore runs on zeta, one independent chain per mode
(each mode proposes and is accepted on its own, valid for a product target),
and samples of q follow exactly as z = f^{-1}(zeta), q = z / sqrt(omega).
When the occupations are redrawn, each chain is first rescaled to the
spread of its new level. Proposals are Gaussian with mode-scaled widths step * sqrt(n_k + 1/2), the
spread of level n_k; the common `step` adapts towards 50 % acceptance
between training steps. A sweep costs Hermite evaluations only, never the
energy surface, so many sweeps per step are cheap and keep the samples
nearly independent even when the occupations n change from step to step.
"""

import jax
import jax.numpy as jnp

from qsolid.nct import mode_basis

TARGET_ACCEPTANCE = 0.5


def log_density(occupation, zeta, levels: int, rotation=None):
    """ln |Phi_n(zeta)|^2 per mode, shape of zeta (rotation: level mixing, qsolid.nct.mode_basis)."""
    return 2.0 * mode_basis.log_abs(rotation, occupation, zeta, levels)


def initial_zeta(key, occupation):
    """A start with the right spread: zeta_k ~ N(0, n_k + 1/2)."""
    return jax.random.normal(key, occupation.shape) * jnp.sqrt(occupation + 0.5)


def rescale_to_occupation(zeta, old_occupation, occupation):
    """Start chains whose level changed at the new spread: zeta_k * sqrt((n_k + 1/2) / (n_k' + 1/2)).

    Only the starting point of the following sweeps moves; the sweeps then
    equilibrate to |psi_n|^2, much faster from a start of the right width.
    """
    return zeta * jnp.sqrt((occupation + 0.5) / (old_occupation + 0.5))


def metropolis(key, zeta, occupation, step, sweeps: int, levels: int, rotation=None):
    """`sweeps` Metropolis sweeps; returns (zeta, acceptance fraction)."""
    width = step * jnp.sqrt(occupation + 0.5)

    def sweep(carry, key_sweep):
        current, log_p, accepted = carry
        key_move, key_accept = jax.random.split(key_sweep)
        proposal = current + width * jax.random.normal(key_move, current.shape)
        log_p_proposal = log_density(occupation, proposal, levels, rotation)
        accept = jnp.log(jax.random.uniform(key_accept, current.shape)) < log_p_proposal - log_p
        return (
            jnp.where(accept, proposal, current),
            jnp.where(accept, log_p_proposal, log_p),
            accepted + jnp.mean(accept.astype(float)),
        ), None

    start = (zeta, log_density(occupation, zeta, levels, rotation), jnp.zeros((), float))
    (zeta, _, accepted), _ = jax.lax.scan(sweep, start, jax.random.split(key, sweeps))
    return zeta, accepted / sweeps


def adapt_step(step, acceptance):
    """Multiplicative step update towards TARGET_ACCEPTANCE, bounded per call."""
    return jnp.asarray(step * jnp.exp(jnp.clip(acceptance - TARGET_ACCEPTANCE, -0.5, 0.5)), float)
