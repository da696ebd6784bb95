import numpy as np
import pytest

from qsolid import units
from qsolid.nct import phonons, surfaces
from qsolid.nct.ase_surface import ase_surface

# The NCT functions compute in the caller's precision; these checks are made in float64 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("float64")


def test_lennard_jones_through_ase_matches_finite_differences():
    from ase.calculators.lj import LennardJones

    calculator = LennardJones(sigma=2.0, epsilon=0.01, rc=4.0, smooth=True)
    lattice = np.eye(3) * 3.5 / 0.529177210903
    positions = np.array([[0.0, 0.0, 0.0], [1.8, 1.7, 1.75]]) / 0.529177210903
    surface = ase_surface(calculator, ["Ar", "Ar"])
    energy, forces, virial = surfaces.energy_forces_virial(surface, positions, lattice)
    step = 1e-4
    shifted = positions.copy()
    shifted[0, 0] += step
    plus = float(surface.energy(shifted, lattice))
    shifted[0, 0] -= 2 * step
    minus = float(surface.energy(shifted, lattice))
    assert abs(-(plus - minus) / (2 * step) - forces[0, 0]) < 1e-7 * max(1.0, abs(forces[0, 0]))
    strain = 1e-5
    up = float(surface.energy(positions * (1 + strain), lattice * (1 + strain)))
    down = float(surface.energy(positions * (1 - strain), lattice * (1 - strain)))
    assert abs(-(up - down) / (2 * strain) - np.trace(virial)) < 1e-6 * max(1.0, abs(np.trace(virial)))
    reference = phonons.Reference(positions=positions, lattice=lattice, masses=np.ones(2))
    hessian = phonons.hessian(surface, reference, step=0.01)
    assert np.allclose(hessian, hessian.T)
    assert np.allclose(hessian.reshape(2, 3, 2, 3).sum(axis=2), 0.0, atol=1e-8 * np.abs(hessian).max())


def test_a_configuration_gets_the_same_bits_whatever_was_computed_before():
    """ASE's LennardJones keeps a neighbour list between calls; the surface must not inherit it, or a resumed
    run would differ from an uninterrupted one in the last bits (tests/nct/test_driver.py). fcc argon at 40
    A^3/atom with a cutoff beyond the cell, as there: with one shared calculator 5 of these 10 pairs differed."""
    from ase.calculators.lj import LennardJones

    lattice = np.eye(3) * 160.0 ** (1 / 3) / units.BOHR_ANGSTROM
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]) @ lattice
    arguments = {"sigma": 3.4, "epsilon": 0.0104, "rc": 7.0, "smooth": True}
    rng = np.random.default_rng(0)
    for _ in range(10):
        with_history, fresh = (ase_surface(LennardJones(**arguments), ["Ar"] * 4) for _ in range(2))
        before = fcc + rng.normal(0.0, 0.1, fcc.shape)
        after = before + rng.normal(0.0, 0.05, fcc.shape)  # moved less than the list's skin: no rebuild
        with_history.forces_virial(before, lattice)
        for one, other in zip(with_history.forces_virial(after, lattice), fresh.forces_virial(after, lattice)):
            np.testing.assert_array_equal(one, other)
        assert float(with_history.energy(after, lattice)) == float(fresh.energy(after, lattice))
