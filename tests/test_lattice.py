import numpy as np
import pytest

from qsolid import lattice as lat


@pytest.mark.parametrize(
    "parameters",
    [(8.48, 9.60, 5.47, 90, 90, 90), (3.1, 4.2, 5.3, 70.0, 100.0, 115.0), (2.0, 2.0, 2.0, 60.0, 60.0, 60.0)],
)
def test_parameters_round_trip_eq_s4(parameters):
    lattice = lat.lattice_from_parameters(*map(float, parameters))
    back = lat.parameters_from_lattice(lattice)
    np.testing.assert_allclose(back, parameters, rtol=1e-12, atol=1e-12)
    # Eq. S4 puts a1 along x and a2 in the xy plane.
    assert lattice[0, 1] == lattice[0, 2] == lattice[1, 2] == 0.0


def test_volume_and_metric():
    lattice = lat.lattice_from_parameters(3.1, 4.2, 5.3, 70.0, 100.0, 115.0)
    np.testing.assert_allclose(lat.volume(lattice) ** 2, np.linalg.det(lat.metric(lattice)), rtol=1e-12)
    np.testing.assert_allclose(lat.reciprocal(lattice) @ lattice.T, 2 * np.pi * np.eye(3), atol=1e-12)


def test_fractional_cartesian_round_trip():
    rng = np.random.default_rng(0)
    lattice = lat.lattice_from_parameters(3.1, 4.2, 5.3, 70.0, 100.0, 115.0)
    s = rng.uniform(size=(10, 3))
    np.testing.assert_allclose(lat.to_fractional(lat.to_cartesian(s, lattice), lattice), s, atol=1e-12)


def test_supercell_and_minimum_distance():
    cell, frac, index = lat.supercell(np.eye(3) * 2.0, [[0, 0, 0], [0.5, 0.5, 0.5]], (2, 2, 2))
    assert cell.shape == (3, 3) and len(frac) == 16 and list(index[:2]) == [0, 1]
    np.testing.assert_allclose(lat.minimum_distance(cell, frac), np.sqrt(3.0), rtol=1e-12)
    # A single site: the shortest lattice vector of a skewed cell.
    skew = np.array([[1.0, 0, 0], [5.0, 1.0, 0], [7.0, -3.0, 1.0]])
    assert lat.minimum_distance(skew, [[0.0, 0.0, 0.0]]) == pytest.approx(1.0)
