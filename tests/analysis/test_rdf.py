"""g(r) normalisation: uniform random points give 1, a lattice gives its coordination numbers."""

import numpy as np
import pytest

from qsolid import lattice as lattice_module
from qsolid.lattice import inscribed_radius
from qsolid.analysis.rdf import probability_density, radial_distribution
from qsolid.schema import ConfigError

CUBIC = np.eye(3) * 10.0
TRICLINIC = lattice_module.lattice_from_parameters(10.0, 11.0, 12.0, 75.0, 80.0, 65.0)


@pytest.mark.parametrize("lattice", [CUBIC, TRICLINIC], ids=["cubic", "triclinic"])
def test_uniform_random_points_give_g_equal_one(lattice):
    n_samples, n_atoms, n_bins = 200, 32, 20
    rng = np.random.default_rng(3)
    rdf = radial_distribution(rng.uniform(size=(n_samples, n_atoms, 3)), lattice, n_bins=n_bins)
    # Counting statistics: the number of unordered pairs in shell k is (nearly) Poisson with mean
    # n_k = N (N - 1) / 2 * shell_k / V * n_samples, so g_k = counts / n_k has relative error
    # 1 / sqrt(n_k). Five standard deviations per bin (20 bins) essentially never fails by chance.
    shells = 4.0 * np.pi / 3.0 * np.diff(rdf.edges_bohr**3)
    expected = n_atoms * (n_atoms - 1) / 2 * shells / abs(np.linalg.det(lattice)) * n_samples
    assert np.all(np.abs(rdf.g - 1.0) < 5.0 / np.sqrt(expected))
    assert rdf.pair_counts.sum() / expected.sum() == pytest.approx(1.0, abs=5.0 / np.sqrt(expected.sum()))
    assert rdf.edges_bohr[-1] == pytest.approx(inscribed_radius(lattice))


def test_simple_cubic_lattice_integrates_to_its_coordination_numbers():
    spacing, repeats = 2.0, 4
    lattice, fractional, _ = lattice_module.supercell(np.eye(3) * spacing, np.zeros((1, 3)), (repeats,) * 3)
    rdf = radial_distribution(fractional[None], lattice, n_bins=400)
    n_atoms = len(fractional)
    shells = 4.0 * np.pi / 3.0 * np.diff(rdf.edges_bohr**3)
    running = np.cumsum(rdf.g * shells) * (n_atoms - 1) / abs(np.linalg.det(lattice))
    centres = rdf.centres_bohr
    assert running[np.searchsorted(centres, 1.3 * spacing)] == pytest.approx(6.0)
    assert running[np.searchsorted(centres, 1.6 * spacing)] == pytest.approx(6.0 + 12.0)


def test_r_max_beyond_the_inscribed_radius_is_refused():
    with pytest.raises(ConfigError, match="r_max_bohr"):
        radial_distribution(np.zeros((1, 2, 3)), CUBIC, r_max_bohr=6.0)


def test_bond_length_density_is_normalised():
    values = np.random.default_rng(4).normal(1.4, 0.1, size=5000)
    edges, density = probability_density(values, n_bins=40)
    assert np.sum(density * np.diff(edges)) == pytest.approx(1.0)
