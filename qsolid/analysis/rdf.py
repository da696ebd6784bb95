"""Radial distribution g(r) of protons and the H2 bond-length distribution, from samples.

g(r) = V / (N (N - 1)) < sum_{i != j} delta(r - r_ij) > / (4 pi r^2),

counted per configuration in shells [r_k, r_k+1) with minimum-image distances
and normalised by the shell volume, so that uniformly random points give
g = 1 at every r in expectation. Distances are exact up to the inscribed radius
of the cell (see qsolid.analysis.geometry), which therefore bounds r_max; with
one lattice per sample the smallest inscribed radius is used and each
configuration is normalised by its own volume.
"""

import dataclasses

import numpy as np

from qsolid.analysis.geometry import minimum_image_vectors
from qsolid.lattice import inscribed_radius
from qsolid.schema import ConfigError


@dataclasses.dataclass(frozen=True)
class RadialDistribution:
    """g(r) on shells with edges ``edges_bohr`` and the unordered pair counts behind it."""

    edges_bohr: np.ndarray
    g: np.ndarray
    pair_counts: np.ndarray
    n_samples: int
    n_atoms: int

    @property
    def centres_bohr(self) -> np.ndarray:
        return 0.5 * (self.edges_bohr[1:] + self.edges_bohr[:-1])


def radial_distribution(fractional_samples, lattices, n_bins: int = 100, r_max_bohr=None) -> RadialDistribution:
    """g(r) of all atoms over configurations (n_samples, n_atoms, 3); lattice (3,3) or per sample."""
    fractional_samples = np.asarray(fractional_samples, dtype=float)
    n_samples, n_atoms = fractional_samples.shape[:2]
    lattices = np.broadcast_to(np.asarray(lattices, dtype=float), (n_samples, 3, 3))
    limit = min(inscribed_radius(lattice) for lattice in lattices)
    r_max = limit if r_max_bohr is None else float(r_max_bohr)
    if not 0 < r_max <= limit * (1 + 1e-12):
        raise ConfigError(f"r_max_bohr: must lie in (0, {limit:.4f}] (inscribed radius of the cell), got {r_max}")
    if n_atoms < 2:
        raise ConfigError("samples: g(r) needs at least two atoms")
    edges = np.linspace(0.0, r_max, n_bins + 1)
    upper = np.triu_indices(n_atoms, k=1)
    counts = np.zeros(n_bins)
    g = np.zeros(n_bins)
    for fractional, lattice in zip(fractional_samples, lattices):
        vectors = minimum_image_vectors(lattice, fractional[upper[0]], fractional[upper[1]])
        histogram = np.histogram(np.linalg.norm(vectors, axis=-1), bins=edges)[0]
        counts += histogram
        g += histogram / ideal_pair_counts(edges, n_atoms, abs(np.linalg.det(lattice)))
    return RadialDistribution(edges, g / n_samples, counts, n_samples, n_atoms)


def ideal_pair_counts(edges_bohr, n_atoms: int, volume_bohr3: float) -> np.ndarray:
    """Expected unordered pairs per configuration in each shell for uniformly random points,
    N (N - 1) / 2 * (4 pi / 3) (r_{k+1}^3 - r_k^3) / Omega: the denominator of g(r) above, so that
    g = (pair counts per configuration) / ideal_pair_counts."""
    edges_bohr = np.asarray(edges_bohr, dtype=float)
    return n_atoms * (n_atoms - 1) / 2.0 / volume_bohr3 * 4.0 * np.pi / 3.0 * np.diff(edges_bohr**3)


def probability_density(values, n_bins: int = 60, value_range=None) -> tuple:
    """Histogram normalised as a probability density (integral 1): (edges, density)."""
    values = np.asarray(values, dtype=float).ravel()
    density, edges = np.histogram(values, bins=n_bins, range=value_range, density=True)
    return edges, density
