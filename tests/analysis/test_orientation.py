"""g(theta, phi): normalised over the sphere, concentrated at the bond direction of an aligned crystal."""

import numpy as np
import pytest
from .analysis_structures import rotated

from qsolid.analysis.crystal import Crystal
from qsolid.analysis.orientation import bond_angles, orientation_distribution

ORTHORHOMBIC = np.diag([8.0, 9.0, 5.0])


def unit(theta_deg, phi_deg):
    t, p = np.radians(theta_deg), np.radians(phi_deg)
    return np.array([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)])


def test_perfectly_aligned_crystal_concentrates_at_the_bond_direction():
    bonds = np.tile(1.4 * unit(62.0, 33.0), (10, 16, 1))
    distribution = orientation_distribution(bonds, ORTHORHOMBIC)
    probability = distribution.density * distribution.solid_angles()
    assert distribution.total_probability() == pytest.approx(1.0)
    occupied = np.argwhere(probability > 0)
    assert len(occupied) == 2
    theta_centres = np.degrees(0.5 * (distribution.theta_edges[1:] + distribution.theta_edges[:-1]))
    phi_centres = np.degrees(0.5 * (distribution.phi_edges[1:] + distribution.phi_edges[:-1]))
    found = sorted((theta_centres[i], phi_centres[j]) for i, j in occupied)
    width_theta, width_phi = 180.0 / 45, 360.0 / 72
    # the bond and its reverse (head-tail symmetry), half the probability each
    for (theta, phi), target in zip(found, [(62.0, 33.0), (118.0, 213.0)]):
        assert abs(theta - target[0]) <= width_theta / 2 and abs(phi - target[1]) <= width_phi / 2
    assert np.allclose(probability[probability > 0], 0.5)


def test_isotropic_bonds_give_one_over_four_pi_and_the_integral_is_one():
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(200, 1000, 3))
    distribution = orientation_distribution(vectors, ORTHORHOMBIC, n_theta=9, n_phi=12)
    counts_per_bin = 2 * vectors.shape[0] * vectors.shape[1] * distribution.solid_angles() / (4 * np.pi)
    # the histogram counts 2 entries per bond (bond and reverse, correlated in pairs), so the relative
    # error of a bin is at most sqrt(2 / counts); allow five of those
    tolerance = 5.0 * np.sqrt(2.0 / counts_per_bin)
    assert np.all(np.abs(distribution.density * 4 * np.pi - 1.0) < tolerance)
    assert distribution.total_probability() == pytest.approx(1.0, abs=1e-12)
    theta = 0.5 * (distribution.theta_edges[1:] + distribution.theta_edges[:-1])
    midpoint = np.sum(distribution.density * np.sin(theta)[:, None]) * np.pi / 9 * 2 * np.pi / 12
    assert midpoint == pytest.approx(1.0, rel=0.02)


def test_angles_are_relative_to_the_crystal_axes_not_the_cartesian_frame():
    crystal = Crystal(ORTHORHOMBIC, np.zeros((1, 3)), [1])
    turned = rotated(crystal, (0.4, 0.9, -1.3))
    rotation = np.linalg.solve(crystal.lattice_bohr, turned.lattice_bohr)
    bond = 1.4 * unit(70.0, 20.0)
    theta, phi = bond_angles((bond @ rotation)[None, None], turned.lattice_bohr)
    assert np.degrees(theta[0, 0]) == pytest.approx(70.0)
    assert np.degrees(phi[0, 0]) == pytest.approx(20.0)
