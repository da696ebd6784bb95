"""Space group, Wyckoff sites and the standard setting of a crystal, through spglib.

The tolerance ``symprec_angstrom`` is spglib's: a symmetry operation is
accepted when it maps every atom within that distance of an atom of the same
kind. A mean structure from samples carries the statistical error of the mean
(spread / sqrt(effective samples)), and operations must survive the largest of
those errors, hence a looser default for sampled means than for structure files.

Everything downstream (molecule centres, Raman/IR labels) works in the
standardized, idealized cell spglib returns: axes in the order of the
International Tables' standard setting, a along x and c along z for the
hexagonal and tetragonal families, positions symmetrized. Labels therefore do
not depend on the axis order or orientation of the input file.
"""

import dataclasses

import numpy as np

from qsolid.analysis._spglib import call
from qsolid.analysis.crystal import Crystal
from qsolid.analysis.point_groups import HERMANN_MAUGUIN_TO_SCHOENFLIES, cartesian_rotations
from qsolid.schema import ConfigError

DEFAULT_SYMPREC_SAMPLES_ANGSTROM = 0.1
"""Default tolerance for mean structures from samples (noisy at the 0.01 angstrom level)."""

DEFAULT_SYMPREC_FILE_ANGSTROM = 0.01
"""Default tolerance for structure files (coordinates given to four or more digits)."""

SYMPREC_SCAN_ANGSTROM = (0.001, 0.01, 0.03, 0.1, 0.2, 0.3)
"""Tolerances at which the space group is reported, to show how robust the assignment is."""

_IDEAL_SYMPREC = 1e-4
"""Tolerance for re-analysing cells that spglib has already symmetrized."""

MOLECULE_CENTRE_NUMBER = 0
"""Atomic number given to molecular centres when locating their Wyckoff positions."""


@dataclasses.dataclass(frozen=True)
class WyckoffSite:
    """One crystallographic orbit: element, Wyckoff letter, multiplicity, site symmetry, a representative."""

    number: int
    letter: str
    multiplicity: int
    site_symmetry: str
    representative_fractional: tuple

    @property
    def label(self) -> str:
        return f"{self.multiplicity}{self.letter}"


@dataclasses.dataclass(frozen=True)
class Symmetry:
    """Space group of a crystal with its standardized cells and the primitive cell's operations."""

    number: int
    symbol: str
    hall_number: int
    point_group: str
    symprec_angstrom: float
    conventional: Crystal
    primitive: Crystal
    rotations_cartesian: np.ndarray
    rotations_fractional: np.ndarray
    translations_fractional: np.ndarray
    sites: tuple
    transformation_matrix: np.ndarray
    origin_shift: np.ndarray

    @property
    def schoenflies(self) -> str:
        return HERMANN_MAUGUIN_TO_SCHOENFLIES[self.point_group]


def _dataset(cell, symprec: float):
    dataset = call("get_symmetry_dataset", cell, symprec=symprec)
    if dataset is None:
        raise ConfigError(f"symprec: spglib found no space group at symprec = {symprec} angstrom")
    return dataset


def _standardize(cell, symprec: float, to_primitive: bool) -> Crystal:
    standard = call("standardize_cell", cell, to_primitive=to_primitive, no_idealize=False, symprec=symprec)
    if standard is None:
        raise ConfigError(f"symprec: spglib could not standardize the cell at symprec = {symprec} angstrom")
    return Crystal.from_spglib_cell(standard)


def wyckoff_sites(standard: Crystal, numbers=None) -> tuple:
    """One WyckoffSite per orbit of an (already standardized) conventional cell.

    The multiplicity is the number of atoms of the orbit in the conventional
    cell, as in the International Tables; ``numbers`` restricts to those species.
    """
    dataset = _dataset(standard.spglib_cell(), _IDEAL_SYMPREC)
    sites = []
    for orbit in np.unique(dataset.equivalent_atoms):
        if numbers is not None and standard.numbers[orbit] not in numbers:
            continue
        members = np.where(dataset.equivalent_atoms == orbit)[0]
        sites.append(WyckoffSite(
            number=int(standard.numbers[orbit]),
            letter=str(dataset.wyckoffs[orbit]),
            multiplicity=len(members),
            site_symmetry=str(dataset.site_symmetry_symbols[orbit]).strip(),
            representative_fractional=tuple(float(v) for v in standard.fractional[orbit]),
        ))
    return tuple(sites)


def wyckoff_counts(sites) -> dict:
    """Number of orbits per Wyckoff position, e.g. {"8g": 4} (multiplicity + letter)."""
    counts = {}
    for site in sorted(sites, key=lambda s: (s.letter, s.multiplicity)):
        counts[site.label] = counts.get(site.label, 0) + 1
    return counts


def find_symmetry(crystal: Crystal, symprec_angstrom: float) -> Symmetry:
    """Space group, Wyckoff sites, standardized cells and the primitive cell's operations."""
    if not symprec_angstrom > 0:
        raise ConfigError(f"symprec: must be positive, got {symprec_angstrom}")
    cell = crystal.spglib_cell()
    dataset = _dataset(cell, symprec_angstrom)
    conventional = _standardize(cell, symprec_angstrom, to_primitive=False)
    primitive = _standardize(cell, symprec_angstrom, to_primitive=True)
    operations = call("get_symmetry", primitive.spglib_cell(), symprec=_IDEAL_SYMPREC)
    rotations = operations["rotations"]
    return Symmetry(
        number=int(dataset.number),
        symbol=str(dataset.international),
        hall_number=int(dataset.hall_number),
        point_group=str(dataset.pointgroup),
        symprec_angstrom=float(symprec_angstrom),
        conventional=conventional,
        primitive=primitive,
        rotations_cartesian=cartesian_rotations(rotations, primitive.lattice_bohr),
        rotations_fractional=np.asarray(rotations),
        translations_fractional=np.asarray(operations["translations"]),
        sites=wyckoff_sites(conventional),
        transformation_matrix=np.asarray(dataset.transformation_matrix),
        origin_shift=np.asarray(dataset.origin_shift),
    )


def centre_sites(symmetry: Symmetry, centres_fractional) -> tuple:
    """Wyckoff sites of points (molecular centres) of the conventional cell, in the crystal's space group.

    The centres are added to the atoms as a separate species: the space group of
    atoms plus centres is the crystal's own (centres follow the atoms), and the
    orbits of the added species are the centres' Wyckoff positions.
    """
    conventional = symmetry.conventional
    combined = Crystal(
        conventional.lattice_bohr,
        np.concatenate([conventional.fractional, centres_fractional]),
        np.concatenate([conventional.numbers, np.full(len(centres_fractional), MOLECULE_CENTRE_NUMBER)]),
    )
    number = _dataset(combined.spglib_cell(), _IDEAL_SYMPREC).number
    if number != symmetry.number:
        raise ValueError(f"molecular centres lower the space group from {symmetry.number} to {number}")
    return wyckoff_sites(combined, numbers={MOLECULE_CENTRE_NUMBER})


def symmetry_scan(crystal: Crystal, tolerances=SYMPREC_SCAN_ANGSTROM) -> list:
    """Space group found at each tolerance (None where spglib finds none)."""
    scan = []
    for symprec in tolerances:
        try:
            dataset = _dataset(crystal.spglib_cell(), symprec)
            found = {"space_group_number": int(dataset.number), "space_group_symbol": str(dataset.international)}
        except ConfigError:
            found = {"space_group_number": None, "space_group_symbol": None}
        scan.append({"symprec_angstrom": symprec, **found})
    return scan
