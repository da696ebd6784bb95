"""Structures shared by the analysis tests (built with pymatgen, converted to qsolid's bohr)."""

import numpy as np

from qsolid import lattice as lattice_module
from qsolid.analysis.crystal import Crystal
from qsolid.units import BOHR_ANGSTROM

CMCM_LATTICE_BOHR = (8.48, 9.60, 5.47)
"""Seed paper, Table IV: the Cmcm structure at 130 GPa."""

CMCM_8G_XY = ((0.5992, 0.3967), (-0.0825, 0.2402), (0.7642, 0.3967), (0.4175, 0.0867))


def cmcm_structure():
    from pymatgen.core import Lattice, Structure

    a, b, c = (length * BOHR_ANGSTROM for length in CMCM_LATTICE_BOHR)
    return Structure.from_spacegroup("Cmcm", Lattice.orthorhombic(a, b, c), ["H"] * 4,
                                     [[x, y, 0.25] for x, y in CMCM_8G_XY])


def permuted(crystal: Crystal, order) -> Crystal:
    """The same crystal with its lattice vectors relabelled (a', b', c') = (a_order[0], ...)."""
    order = list(order)
    return Crystal(crystal.lattice_bohr[order], crystal.fractional[:, order], crystal.numbers)


def rotated(crystal: Crystal, angles) -> Crystal:
    """The same crystal with its Cartesian frame rotated (Euler angles z-y-z, radians)."""
    def about(axis, angle):
        c, s = np.cos(angle), np.sin(angle)
        i, j = [k for k in range(3) if k != axis]
        r = np.eye(3)
        r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
        return r
    rotation = about(2, angles[0]) @ about(1, angles[1]) @ about(2, angles[2])
    return Crystal(crystal.lattice_bohr @ rotation.T, crystal.fractional, crystal.numbers)


def cmcm_crystal() -> Crystal:
    return Crystal.from_pymatgen(cmcm_structure())


def hcp_crystal(a_angstrom=2.0) -> Crystal:
    """hcp atoms on 2c of P6_3/mmc with the ideal c/a."""
    from pymatgen.core import Lattice, Structure

    structure = Structure(Lattice.hexagonal(a_angstrom, a_angstrom * np.sqrt(8.0 / 3.0)), ["H", "H"],
                          [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])
    return Crystal.from_pymatgen(structure)


def molecular_crystal(system: str, bond_angstrom=0.74) -> Crystal:
    """One H2 molecule per primitive cell, at the origin, along c (simple tetragonal or hexagonal)."""
    from pymatgen.core import Lattice, Structure

    lattice = Lattice.tetragonal(2.5, 3.0) if system == "tetragonal" else Lattice.hexagonal(2.5, 3.0)
    z = 0.5 * bond_angstrom / 3.0
    return Crystal.from_pymatgen(Structure(lattice, ["H", "H"], [[0, 0, z], [0, 0, -z]]))


NOISE_BOHR = 0.15


def synthetic_samples(crystal, n_samples=300, noise_bohr=NOISE_BOHR, lattice_noise=0.0, seed=0):
    """Configurations = crystal + isotropic Gaussian displacements + a random common translation."""
    rng = np.random.default_rng(seed)
    inverse = np.linalg.inv(crystal.lattice_bohr)
    displacement = rng.normal(0.0, noise_bohr, (n_samples, crystal.n_atoms, 3)) @ inverse
    drift = rng.uniform(0.0, 1.0, (n_samples, 1, 3))
    fractional = lattice_module.wrap(crystal.fractional + displacement + drift)
    lattices = crystal.lattice_bohr
    if lattice_noise:
        lattices = crystal.lattice_bohr * (1.0 + lattice_noise * rng.normal(size=(n_samples, 3, 3)))
    return fractional, lattices
