"""A crystal for analysis: lattice (bohr, rows = lattice vectors), fractional positions, atomic numbers.

The conversions to the libraries the analysis leans on live here, so that
units change in one place: spglib and pymatgen receive angstrom, ASE reads any
structure file (CIF, POSCAR, extended XYZ) and writes CIF in angstrom.
"""

import dataclasses
from pathlib import Path

import numpy as np

from qsolid import lattice as lattice_module
from qsolid.schema import ConfigError
from qsolid.units import BOHR_ANGSTROM, bohr3_to_angstrom3


@dataclasses.dataclass(frozen=True)
class Crystal:
    """One periodic structure in qsolid's conventions (x = s @ L, bohr)."""

    lattice_bohr: np.ndarray
    fractional: np.ndarray
    numbers: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "lattice_bohr", np.asarray(self.lattice_bohr, dtype=float).reshape(3, 3))
        object.__setattr__(self, "fractional", np.asarray(self.fractional, dtype=float).reshape(-1, 3))
        object.__setattr__(self, "numbers", np.asarray(self.numbers, dtype=int).reshape(-1))
        if len(self.numbers) != len(self.fractional):
            raise ValueError("one atomic number per site is needed")

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def cartesian_bohr(self) -> np.ndarray:
        return lattice_module.to_cartesian(self.fractional, self.lattice_bohr)

    def volume_per_atom_a3(self) -> float:
        return float(bohr3_to_angstrom3(lattice_module.volume(self.lattice_bohr))) / self.n_atoms

    def spglib_cell(self) -> tuple:
        """(lattice in angstrom, fractional positions, numbers) for spglib."""
        return self.lattice_bohr * BOHR_ANGSTROM, self.fractional, self.numbers

    @classmethod
    def from_spglib_cell(cls, cell) -> "Crystal":
        lattice_angstrom, fractional, numbers = cell
        return cls(np.asarray(lattice_angstrom) / BOHR_ANGSTROM, fractional, numbers)

    def to_pymatgen(self):
        from pymatgen.core import Lattice, Structure

        return Structure(Lattice(self.lattice_bohr * BOHR_ANGSTROM), list(self.numbers), self.fractional)

    @classmethod
    def from_pymatgen(cls, structure) -> "Crystal":
        return cls(structure.lattice.matrix / BOHR_ANGSTROM, structure.frac_coords, structure.atomic_numbers)

    def to_ase(self):
        from ase import Atoms

        return Atoms(numbers=self.numbers, cell=self.lattice_bohr * BOHR_ANGSTROM,
                     scaled_positions=self.fractional, pbc=True)

    def write_cif(self, path) -> None:
        """Write the structure as a P1 CIF in angstrom, atomically (qsolid.rundir.atomic_write_bytes)."""
        import io

        import ase.io

        from qsolid import rundir

        buffer = io.BytesIO()
        ase.io.write(buffer, self.to_ase(), format="cif")
        rundir.atomic_write_bytes(path, buffer.getvalue())


def read_structure(path) -> Crystal:
    """Read a periodic structure file (CIF, POSCAR/CONTCAR, extended XYZ, ... via ASE)."""
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"path: no such structure file {str(path)!r}")
    try:
        atoms = ase.io.read(str(path))
    except Exception as error:  # ASE raises many kinds for unreadable files, some with an empty message
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "not a format ASE can read"
        raise ConfigError(f"path: cannot read {path.name!r} as a structure ({reason})") from None
    if not all(atoms.pbc) or abs(atoms.cell.volume) < 1e-8:
        raise ConfigError(f"path: {path.name!r} has no periodic 3D cell")
    return Crystal(np.asarray(atoms.cell) / BOHR_ANGSTROM, atoms.get_scaled_positions(wrap=True),
                   atoms.numbers)
