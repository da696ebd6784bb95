"""Periodic input features of pairs of particles (seed 000, Eqs. S1-S2).

For a relative displacement with fractional components Delta s, let
omega = 2 pi Delta s. With the lattice vectors a_k (rows of L) and the metric
S_kl = a_k . a_l, the periodic distance (Eq. S1) and pair feature (Eq. S2) are

    d(omega) = [(1 - cos w)^T S (1 - cos w) + sin w^T S sin w]^(1/2) / (2 pi),
    h = { sum_k sin(w_k) a_k / (2 pi),  sum_k cos(w_k) a_k / (2 pi),  d(omega) }.

We divide Eq. S1-S2 by 2 pi so that d -> |r| and the sine part -> r at short
range: envelope exponents and cusps then keep their usual meaning in bohr.
Both are smooth and periodic in every particle coordinate; d has the |r|
cusp at r = 0, as a distance should.

The features are evaluated with a fixed *feature lattice* (the reference cell
of the run): the wavefunction is a function of fractional coordinates only,
and the physical lattice enters through the Hamiltonian (Eq. S5). For a run at
fixed cell the feature lattice is the cell itself.
"""

import jax.numpy as jnp
import numpy as np

TWO_PI = 2.0 * jnp.pi


def pair_features(fractional_difference, feature_lattice, self_pairs=0.0):
    """Eq. S2 features, shape (..., 7), and Eq. S1 distances, shape (...).

    self_pairs: 1 where a particle is paired with itself (difference exactly 0), else 0. Its
    distance is taken as sqrt(d^2 + 1) - 1 = 0, whose derivatives vanish, instead of sqrt(d^2),
    whose derivative is infinite at 0; a constant shift, unlike a data-dependent select, keeps the
    tangents of folx's sparse forward Laplacian sparse. Distinct particles meeting exactly is a
    Coulomb singularity and is left to the energy."""
    omega = TWO_PI * fractional_difference
    sin, cos = jnp.sin(omega), jnp.cos(omega)
    metric = feature_lattice @ feature_lattice.T
    one_minus_cos = 1.0 - cos
    distance_sq = jnp.einsum("...k,kl,...l->...", one_minus_cos, metric, one_minus_cos) + jnp.einsum(
        "...k,kl,...l->...", sin, metric, sin
    )
    distance = (jnp.sqrt(distance_sq + self_pairs) - self_pairs) / TWO_PI
    features = jnp.concatenate(
        [sin @ feature_lattice / TWO_PI, cos @ feature_lattice / TWO_PI, distance[..., None]], axis=-1
    )
    return features, distance


def electron_nuclear(electrons, nuclei, feature_lattice):
    """Features (n_e, n_n, 7) and distances (n_e, n_n) of electron-nucleus pairs."""
    return pair_features(electrons[:, None, :] - nuclei[None, :, :], feature_lattice)


def electron_electron(electrons, feature_lattice):
    """Features (n_e, n_e, 7) and distances (n_e, n_e) of electron pairs (diagonal d = 0)."""
    self_pairs = np.eye(electrons.shape[0], dtype=electrons.dtype)
    return pair_features(electrons[:, None, :] - electrons[None, :, :], feature_lattice, self_pairs)
