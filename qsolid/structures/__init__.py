"""Built-in hydrogen structures and structure-file import (through ASE).

Every builder returns ``(lattice_bohr, fractional_positions)`` with lattice
vectors as rows. Cubic lattices are conventional cells; Pa-3 is the
orientationally ordered molecular fcc crystal (4 H2 molecules, 8 atoms); the Cmcm
structure is the seed paper's Table IV (conventional cell, 32 atoms); the
molecule and atom live in a cubic box.
"""

from pathlib import Path

import numpy as np

from qsolid.units import angstrom_to_bohr

CMCM_TABLE_IV = {
    "abc_bohr": (8.48, 9.60, 5.47),
    "sites_8g_xy": ((0.5992, 0.3967), (-0.0825, 0.2402), (0.7642, 0.3967), (0.4175, 0.0867)),
}
"""Cmcm structure of solid hydrogen at 130 GPa, seed 000 Table IV: four 8g sites (x, y, 1/4)."""


def cubic(kind: str, lattice_constant_bohr: float):
    """Conventional cubic cell of the sc, bcc or fcc lattice."""
    basis = {
        "sc": [[0, 0, 0]],
        "bcc": [[0, 0, 0], [0.5, 0.5, 0.5]],
        "fcc": [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
    }[kind]
    return np.eye(3) * lattice_constant_bohr, np.array(basis, dtype=float)


def cmcm():
    """The Cmcm cell of Table IV, expanded from its four 8g sites by the space-group operations."""
    from pymatgen.core import Lattice, Structure

    a, b, c = CMCM_TABLE_IV["abc_bohr"]
    sites = [[x, y, 0.25] for x, y in CMCM_TABLE_IV["sites_8g_xy"]]
    structure = Structure.from_spacegroup("Cmcm", Lattice.orthorhombic(a, b, c), ["H"] * 4, sites)
    return np.diag([a, b, c]), np.array(structure.frac_coords) % 1.0


def pa3(lattice_constant_bohr: float, bond_length_bohr: float):
    """Molecular Pa-3 (phase II-like ordering): H2 centres on an fcc lattice, each molecule along a
    different body diagonal; the atoms occupy Wyckoff 8c (x, x, x) with x = R / (2 sqrt(3) a)."""
    from pymatgen.core import Lattice, Structure

    a = lattice_constant_bohr
    x = bond_length_bohr / (2.0 * np.sqrt(3.0) * a)
    structure = Structure.from_spacegroup("Pa-3", Lattice.cubic(a), ["H"], [[x, x, x]])
    return np.eye(3) * a, np.array(structure.frac_coords) % 1.0


def molecule_in_box(box_bohr: float, bond_length_bohr: float):
    """H2 along x, centred in a cubic box."""
    half = 0.5 * bond_length_bohr / box_bohr
    return np.eye(3) * box_bohr, np.array([[0.5 - half, 0.5, 0.5], [0.5 + half, 0.5, 0.5]])


def atom_in_box(box_bohr: float):
    return np.eye(3) * box_bohr, np.array([[0.5, 0.5, 0.5]])


def read_structure_file(path):
    """Cell and fractional positions of a CIF/POSCAR/extended-XYZ file (angstrom -> bohr).

    Returns (lattice_bohr, fractional, chemical_symbols).
    """
    import ase.io

    path = Path(path)
    atoms = ase.io.read(path)
    if not atoms.pbc.all() or atoms.cell.rank != 3:
        raise ValueError(f"{path} has no full 3-D periodic cell")
    lattice = angstrom_to_bohr(np.array(atoms.cell[:], dtype=float))
    return lattice, np.array(atoms.get_scaled_positions(wrap=True)), atoms.get_chemical_symbols()


BUILTIN = ("bcc", "fcc", "sc", "pa3", "cmcm", "h2-molecule", "h-atom")
MOLECULAR_BOXES = ("h2-molecule", "h-atom")
