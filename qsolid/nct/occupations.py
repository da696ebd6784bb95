"""Phonon occupation probabilities in product form, p_n = prod_k p_k(n_k).

Seed 003 (after Eq. 4): each mode k has its own distribution over the
levels n_k = 0..K-1 (K the level cutoff), parametrised by logits mu_k(n)
with p_k = softmax(mu_k). They start at the harmonic Boltzmann distribution
mu_k(n) = -n omega_k / T. At T = 0 the cutoff must be 1 (ground state only).
The entropy (Eq. 5) of a product distribution is also available exactly,
S = -sum_k sum_n p_k(n) ln p_k(n), which the driver reports beside the
sampled estimate.
"""

import jax
import jax.numpy as jnp


def init(frequencies, temperature: float, levels: int) -> dict:
    omega = jnp.asarray(frequencies)
    if temperature == 0.0:
        if levels != 1:
            raise ValueError("occupations: at T = 0 the level cutoff must be 1")
        return {"logits": jnp.zeros((omega.size, 1))}
    n = jnp.arange(levels, dtype=float)
    return {"logits": -n[None, :] * omega[:, None] / temperature}


def log_probabilities(params) -> jnp.ndarray:
    """ln p_k(n), shape (D, K)."""
    return jax.nn.log_softmax(params["logits"], axis=-1)


def sample(params, key, walkers: int) -> jnp.ndarray:
    """Occupations n ~ p_n for `walkers` walkers, integer array (walkers, D)."""
    logits = params["logits"]
    return jax.random.categorical(key, logits, axis=-1, shape=(walkers, logits.shape[0]))


def log_prob(params, occupation) -> jnp.ndarray:
    """ln p_n = sum_k ln p_k(n_k) for occupations of shape (..., D)."""
    table = log_probabilities(params)
    per_mode = jnp.take_along_axis(table, occupation.T.reshape(table.shape[0], -1), axis=1)
    return jnp.sum(per_mode.reshape((table.shape[0],) + occupation.shape[:-1]), axis=0)


def entropy(params) -> jnp.ndarray:
    """Exact S / k_B of the product distribution."""
    table = log_probabilities(params)
    return -jnp.sum(jnp.exp(table) * table)
