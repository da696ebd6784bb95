"""Periodic distances: minimum-image vectors and the radius up to which they are unique.

For any cell, a nonzero lattice vector n1 a1 + n2 a2 + n3 a3 has a component
|n_k| d_k >= d_k along the normal of the face (a_i, a_j), with d_k the spacing
of those faces. Two images of an atom are therefore at least min_k d_k apart,
and within the inscribed radius r_in = min_k d_k / 2 an atom sees at most one
image of any other: distance histograms are exact up to r_in.
"""

import numpy as np

from qsolid import lattice as lattice_module

_SHIFTS = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float)


def face_spacings(lattice) -> np.ndarray:
    """Spacings d_k = Omega / |a_i x a_j| of the three pairs of cell faces (lattice units)."""
    lattice = np.asarray(lattice, dtype=float)
    omega = abs(np.linalg.det(lattice))
    areas = np.linalg.norm(np.cross(lattice[[1, 2, 0]], lattice[[2, 0, 1]]), axis=-1)
    return omega / areas


def inscribed_radius(lattice) -> float:
    """Radius of the largest sphere inside the cell, min_k d_k / 2."""
    return float(face_spacings(lattice).min() / 2.0)


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
