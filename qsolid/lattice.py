"""Lattices: parameters (a, b, c, alpha, beta, gamma) <-> matrix L (Eq. S4).

Conventions used throughout qsolid:
- ``lattice`` is a 3x3 array whose *rows* are the lattice vectors a_1, a_2, a_3
  (bohr). A fractional position s (row vector) has Cartesian position
  x = s @ L, i.e. X = L^T S of Eq. S3 in column form.
- The metric tensor is g = L L^T (g_kl = a_k . a_l, the S_kl of Eq. S1), and
  Cartesian gradients are grad_x = L^{-1} grad_s.
- Reciprocal vectors b_k (rows of 2 pi L^{-T}) satisfy a_k . b_l = 2 pi delta_kl.

Functions accept NumPy or JAX arrays; they use the array module of the input.
"""

import sys

import numpy as np


def _xp(x):
    """jax.numpy for JAX arrays and tracers, numpy otherwise (jax is not imported here, so that
    configs and structures load without it: an array cannot be a JAX one before jax is imported)."""
    jax = sys.modules.get("jax")
    return jax.numpy if jax is not None and isinstance(x, jax.Array) else np


PARAMETER_NAMES = ("a_bohr", "b_bohr", "c_bohr", "alpha_deg", "beta_deg", "gamma_deg")
"""The six cell parameters as the statistics files name them (the order of parameters_from_lattice)."""


def lattice_from_parameters(a, b, c, alpha_deg, beta_deg, gamma_deg):
    """Lattice matrix of Eq. S4 from lengths (bohr) and angles (degrees).

    a_1 along x, a_2 in the xy plane, cos(alpha*) = (cos b cos g - cos a)/(sin b sin g).
    """
    xp = _xp(a)
    alpha, beta, gamma = (xp.deg2rad(angle) for angle in (alpha_deg, beta_deg, gamma_deg))
    cos_alpha_star = (xp.cos(beta) * xp.cos(gamma) - xp.cos(alpha)) / (xp.sin(beta) * xp.sin(gamma))
    sin_alpha_star = xp.sqrt(1.0 - cos_alpha_star**2)
    zero = 0.0 * a
    return xp.stack(
        [
            xp.stack([a, zero, zero]),
            xp.stack([b * xp.cos(gamma), b * xp.sin(gamma), zero]),
            xp.stack(
                [
                    c * xp.cos(beta),
                    -c * xp.sin(beta) * cos_alpha_star,
                    c * xp.sin(beta) * sin_alpha_star,
                ]
            ),
        ]
    )


def parameters_from_lattice(lattice):
    """(a, b, c, alpha, beta, gamma) in bohr and degrees from the rows of L."""
    xp = _xp(lattice)
    lengths = xp.linalg.norm(lattice, axis=1)
    a1, a2, a3 = lattice
    def angle(u, v, nu, nv):
        return xp.rad2deg(xp.arccos(xp.clip(xp.dot(u, v) / (nu * nv), -1.0, 1.0)))
    alpha = angle(a2, a3, lengths[1], lengths[2])
    beta = angle(a1, a3, lengths[0], lengths[2])
    gamma = angle(a1, a2, lengths[0], lengths[1])
    return lengths[0], lengths[1], lengths[2], alpha, beta, gamma


def volume(lattice):
    """Cell volume Omega = |det L| (bohr^3)."""
    xp = _xp(lattice)
    return xp.abs(xp.linalg.det(lattice))


def heights(lattice):
    """Spacings d_k = Omega / |a_i x a_j| of the three pairs of opposite cell faces (numpy).

    Any nonzero lattice vector has a component |n_k| d_k >= d_k along the normal of the face
    (a_i, a_j), so two periodic images are at least min_k d_k apart."""
    lattice = np.asarray(lattice, dtype=float)
    areas = np.linalg.norm(np.cross(lattice[[1, 2, 0]], lattice[[2, 0, 1]]), axis=-1)
    return abs(np.linalg.det(lattice)) / areas


def inscribed_radius(lattice) -> float:
    """Radius min_k d_k / 2 of the largest sphere inside the cell: minimum-image distances
    (and distance histograms) are exact up to it."""
    return float(heights(lattice).min() / 2.0)


def metric(lattice):
    """Metric tensor g = L L^T (g_kl = a_k . a_l)."""
    return lattice @ lattice.T


def reciprocal(lattice):
    """Reciprocal lattice vectors as rows, b_k . a_l = 2 pi delta_kl."""
    xp = _xp(lattice)
    return 2.0 * np.pi * xp.linalg.inv(lattice).T


def to_cartesian(fractional, lattice):
    """x = s @ L for positions stored as rows."""
    return fractional @ lattice


def to_fractional(cartesian, lattice):
    """s = x @ L^{-1} for positions stored as rows."""
    xp = _xp(lattice)
    return cartesian @ xp.linalg.inv(lattice)


def wrap(fractional):
    """Fold fractional coordinates into [0, 1)."""
    xp = _xp(fractional)
    return fractional - xp.floor(fractional)


def minimum_image(fractional_difference):
    """Fold fractional differences into [-1/2, 1/2) (minimum image for reduced cells)."""
    xp = _xp(fractional_difference)
    return fractional_difference - xp.round(fractional_difference)


def supercell(lattice, fractional, repeats):
    """Repeat a cell n1 x n2 x n3 times: returns (lattice, fractional positions, image index).

    The image index maps each new site to the site of the original cell it copies.
    """
    repeats = np.asarray(repeats, dtype=int)
    shifts = np.array(
        [(i, j, k) for i in range(repeats[0]) for j in range(repeats[1]) for k in range(repeats[2])],
        dtype=float,
    )
    fractional = np.asarray(fractional, dtype=float)
    positions = (fractional[None, :, :] + shifts[:, None, :]) / repeats
    index = np.tile(np.arange(len(fractional)), len(shifts))
    return np.asarray(lattice) * repeats[:, None], positions.reshape(-1, 3), index


def minimum_distance(lattice, fractional):
    """Shortest periodic distance between any two sites, images included (bohr).

    The cell is Minkowski-reduced first (ASE), after which the 27 neighbouring
    images of the minimum-image difference contain the shortest vector. A single
    site returns its shortest lattice vector.
    """
    from ase.geometry import minkowski_reduce

    reduced, _ = minkowski_reduce(np.asarray(lattice, dtype=float))
    fractional = to_fractional(to_cartesian(np.asarray(fractional, dtype=float), lattice), reduced)
    shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)
    diff = minimum_image(fractional[:, None, :] - fractional[None, :, :])
    dist = np.linalg.norm((diff[:, :, None, :] + shifts[None, None, :, :]) @ reduced, axis=-1)
    n = len(fractional)
    self_pair = np.eye(n, dtype=bool)[:, :, None] & np.all(shifts == 0, axis=1)[None, None, :]
    return float(np.min(np.where(self_pair, np.inf, dist)))


def reduce_lattice(lattice) -> tuple[np.ndarray, np.ndarray]:
    """Greedy Minkowski-type reduction of a 3D lattice basis.

    Returns (U, reduced) with U an integer unimodular matrix (det +1) and
    reduced = U @ lattice, rows sorted by length. Each vector is repeatedly
    replaced by its shortest difference with an integer combination of the
    other two until no vector can be shortened. The sums in this module are
    exact for any basis; the reduction only keeps the number of terms small.
    """
    lattice = np.asarray(lattice, dtype=float)
    basis = lattice.copy()
    u = np.eye(3, dtype=np.int64)
    for _ in range(1000):
        changed = False
        for i in range(3):
            j, k = [m for m in range(3) if m != i]
            others = basis[[j, k]]
            gram = others @ others.T
            coeff = np.linalg.solve(gram, others @ basis[i])
            best = (basis[i] @ basis[i], 0, 0)
            base = np.floor(coeff).astype(np.int64)
            for da in range(-1, 3):
                for db in range(-1, 3):
                    a, b = base[0] + da, base[1] + db
                    v = basis[i] - a * basis[j] - b * basis[k]
                    norm2 = v @ v
                    if norm2 < best[0] * (1.0 - 1e-12):
                        best = (norm2, a, b)
            if best[1] != 0 or best[2] != 0:
                _, a, b = best
                u[i] = u[i] - a * u[j] - b * u[k]
                basis[i] = u[i] @ lattice
                changed = True
        if not changed:
            break
    order = np.argsort(np.einsum("ij,ij->i", basis, basis), kind="stable")
    u = u[order]
    if round(np.linalg.det(u)) < 0:
        u[2] = -u[2]
    return u, u @ lattice
