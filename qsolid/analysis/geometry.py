"""Periodic distances: minimum-image vectors and the radius up to which they are unique.

Within the inscribed radius r_in = min_k d_k / 2 of the cell (qsolid.lattice.heights) an
atom sees at most one image of any other: distance histograms are exact up to r_in.
"""

import numpy as np

from qsolid import lattice as lattice_module

_SHIFTS = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float)


def minimum_image_vectors(lattice, fractional_from, fractional_to) -> np.ndarray:
    """Shortest Cartesian vectors from sites ``fractional_from`` to periodic images of ``fractional_to``.

    Inputs broadcast (..., 3); the fractional minimum image is refined over its
    27 neighbouring images, which is exact for any vector shorter than the
    inscribed radius and for the reduced cells used in practice.
    """
    lattice = np.asarray(lattice, dtype=float)
    difference = lattice_module.minimum_image(np.asarray(fractional_to) - np.asarray(fractional_from))
    candidates = (difference[..., None, :] + _SHIFTS) @ lattice
    best = np.argmin(np.einsum("...i,...i->...", candidates, candidates), axis=-1)
    return np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]


def distance_matrix(lattice, fractional) -> np.ndarray:
    """Minimum-image distances between all sites (lattice units); infinite on the diagonal."""
    fractional = np.asarray(fractional, dtype=float)
    vectors = minimum_image_vectors(lattice, fractional[:, None, :], fractional[None, :, :])
    distances = np.linalg.norm(vectors, axis=-1)
    np.fill_diagonal(distances, np.inf)
    return distances
