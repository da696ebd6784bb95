"""Periodic pair features of the proton flow (seed 001, Appendix A 1, Eqs. A1-A9).

For a cubic box of side L and the fractional displacement s_IJ = (x_I - x_J)/L,
every feature is a smooth function of exp(2 pi i s_IJ), so it is invariant
under a common translation of all particles (Eq. A1) and under moving any one
particle by a lattice vector (Eq. A2):

* harmonics sin(2 pi n s^mu), cos(2 pi n s^mu), n = 1..H, per direction mu
  (n = 1 cosines are the seed's cos(pi sigma) of Eq. A3, with sigma = 2 s);
* the periodic (chord) distance squared,
  d^2 = (L/pi)^2 sum_mu sin^2(pi s^mu), which is |x_I - x_J|^2 at short range
  and smooth everywhere; the seed's Eq. A5 distance has a cusp at d = 0 that
  electrons want and protons do not, and the cusp would spoil the exactness of
  the quadrature checks of the flow's normalisation;
* multi-scale radial functions exp(-d^2 / (w_k l)^2), l = L / N^{1/D} the mean
  spacing, over the scale set {w_k} (the role of the seed's S in Eq. A8).

Functions are written for one configuration, positions of shape (N, D).
"""

import jax.numpy as jnp


def fractional_displacements(positions, box_length):
    """s_IJ = (x_I - x_J) / L, shape (N, N, D)."""
    return (positions[:, None, :] - positions[None, :, :]) / box_length


def chord_distance_squared(fractional, box_length):
    """d^2 = (L/pi)^2 sum_mu sin^2(pi s^mu): the squared distance to the nearest image for short separations."""
    return (box_length / jnp.pi) ** 2 * jnp.sum(jnp.sin(jnp.pi * fractional) ** 2, axis=-1)


def pair_features(positions, box_length, harmonics: int, radial_scales):
    """Features f_IJ of shape (N, N, 2 H D + 1 + len(radial_scales)) (Eqs. A3-A9 in the smooth form above)."""
    n_particles, dimension = positions.shape
    fractional = fractional_displacements(positions, box_length)
    orders = jnp.arange(1, harmonics + 1, dtype=positions.dtype)
    phases = 2.0 * jnp.pi * fractional[..., None, :] * orders[:, None]
    spacing = box_length / n_particles ** (1.0 / dimension)
    distance_squared = chord_distance_squared(fractional, box_length) / spacing**2
    scales = jnp.asarray(radial_scales, dtype=positions.dtype)
    radial = jnp.exp(-distance_squared[..., None] / scales**2)
    return jnp.concatenate(
        [jnp.sin(phases).reshape(n_particles, n_particles, -1), jnp.cos(phases).reshape(n_particles, n_particles, -1),
         distance_squared[..., None], radial],
        axis=-1,
    )


def feature_count(dimension: int, harmonics: int, radial_scales) -> int:
    return 2 * harmonics * dimension + 1 + len(radial_scales)
