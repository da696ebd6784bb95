"""Orientational distribution g(theta, phi) of H2 bond vectors relative to the crystal axes.

Frame: x along a, z along a x b (the normal of the ab plane, i.e. c for
orthogonal cells), y = z x x. theta is the polar angle from z, phi the azimuth
from x (seed paper, Fig. 3).

Head-tail symmetry: a bond b and its reverse -b are the same molecule, so each
bond contributes weight 1/2 at (theta, phi) and 1/2 at (pi - theta, phi + pi).
The density is then defined on the whole sphere, symmetric under inversion,
and normalised as a probability density over solid angle,

    integral g(theta, phi) sin(theta) d(theta) d(phi) = 1,

with each bin's exact solid angle d(phi) (cos theta_lo - cos theta_hi), so an
isotropic distribution gives g = 1 / (4 pi) and the bin sums are exactly 1.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class OrientationDistribution:
    """g(theta, phi) on a (n_theta, n_phi) grid of bins; angles in radians."""

    theta_edges: np.ndarray
    phi_edges: np.ndarray
    density: np.ndarray

    def solid_angles(self) -> np.ndarray:
        return np.outer(-np.diff(np.cos(self.theta_edges)), np.diff(self.phi_edges))

    def total_probability(self) -> float:
        return float(np.sum(self.density * self.solid_angles()))


def crystal_axes_frame(lattice) -> np.ndarray:
    """Rows x, y, z of the crystal frame: x || a, z || a x b, y = z x x."""
    lattice = np.asarray(lattice, dtype=float)
    a, b = lattice[..., 0, :], lattice[..., 1, :]
    x = a / np.linalg.norm(a, axis=-1, keepdims=True)
    z = np.cross(a, b)
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    return np.stack([x, np.cross(z, x), z], axis=-2)


def bond_angles(bond_vectors, lattices) -> tuple:
    """(theta, phi) in radians of Cartesian bond vectors (n_samples, n_molecules, 3) in the crystal frame.

    ``lattices`` is (3, 3) or one lattice per sample; theta in [0, pi], phi in [0, 2 pi).
    """
    bond_vectors = np.asarray(bond_vectors, dtype=float)
    frames = np.broadcast_to(crystal_axes_frame(lattices), bond_vectors.shape[:1] + (3, 3))
    components = np.einsum("sij,smj->smi", frames, bond_vectors)
    length = np.linalg.norm(components, axis=-1)
    theta = np.arccos(np.clip(components[..., 2] / length, -1.0, 1.0))
    phi = np.mod(np.arctan2(components[..., 1], components[..., 0]), 2.0 * np.pi)
    return theta, phi


def orientation_distribution(bond_vectors, lattices, n_theta: int = 45, n_phi: int = 72) -> OrientationDistribution:
    """Head-tail symmetrised g(theta, phi), normalised over solid angle.

    The phi bins are shifted by half a bin, so phi = 0, 90, 180, 270 deg (the
    crystal axes, with the default 72 bins) and, for odd ``n_theta``,
    theta = 90 deg lie at bin centres rather than on edges.
    """
    theta, phi = bond_angles(bond_vectors, lattices)
    half_bin = np.pi / n_phi
    theta = np.concatenate([theta.ravel(), np.pi - theta.ravel()])
    phi = np.mod(np.concatenate([phi.ravel(), phi.ravel() + np.pi]) + half_bin, 2.0 * np.pi) - half_bin
    theta_edges = np.linspace(0.0, np.pi, n_theta + 1)
    phi_edges = np.linspace(-half_bin, 2.0 * np.pi - half_bin, n_phi + 1)
    counts = np.histogram2d(theta, phi, bins=[theta_edges, phi_edges])[0]
    distribution = OrientationDistribution(theta_edges, phi_edges, counts)
    return dataclasses.replace(distribution, density=counts / (len(theta) * distribution.solid_angles()))


def orientation_summary(bond_vectors, lattices) -> dict:
    """Scalar order parameters: <P2(cos theta)>, fraction with 60 deg < theta < 120 deg, mean angles."""
    theta, _ = bond_angles(bond_vectors, lattices)
    cos_theta = np.cos(theta)
    return {
        "p2_cos_theta": float(np.mean(1.5 * cos_theta**2 - 0.5)),
        "fraction_theta_60_120_deg": float(np.mean(np.abs(cos_theta) < 0.5)),
        "mean_abs_cos_theta": float(np.mean(np.abs(cos_theta))),
    }
