"""From a config to the reference structure, the energy surface and the report units.

Model systems are a single "site" per coordinate with unit mass and no cell;
crystals are ase.build.bulk cubic cells repeated into a supercell, converted
to bohr and electron masses through qsolid.units.
"""

import dataclasses
import importlib
import json

import numpy as np

from qsolid import units
from qsolid.nct import surfaces
from qsolid.nct.phonons import Reference

ATOMS_PER_CUBIC_CELL = {"bcc": 2, "fcc": 4}


@dataclasses.dataclass(frozen=True)
class ReportUnits:
    """How summaries are expressed: value_reported = value_internal * scale."""

    energy_unit: str
    per: str
    scale: float


def model_surface(system) -> surfaces.Surface:
    if system.kind == "harmonic":
        return surfaces.harmonic(system.frequencies)
    if system.kind == "ndco":
        return surfaces.ndco(system.dimension, system.ndco_coupling)
    return surfaces.quartic(system.frequencies, system.quartic_coefficient, system.pair_coefficient)


def model_reference(system) -> Reference:
    count = system.dimension if system.kind == "ndco" else len(system.frequencies)
    return Reference(positions=np.zeros((count, 1)), cell=None, masses=np.ones(count))


def lattice_constant_angstrom(crystal) -> float:
    return (crystal.volume_per_atom_angstrom3 * ATOMS_PER_CUBIC_CELL[crystal.lattice]) ** (1.0 / 3.0)


def crystal_reference(crystal, cell_bohr=None) -> Reference:
    """The supercell; with `cell_bohr`, the same fractional sites in that (strained) cell."""
    import ase.build

    atoms = ase.build.bulk(crystal.element, crystal.lattice, a=lattice_constant_angstrom(crystal), cubic=True)
    atoms = atoms.repeat(tuple(crystal.supercell))
    cell = np.asarray(atoms.cell) / units.BOHR_ANGSTROM
    positions = atoms.get_positions() / units.BOHR_ANGSTROM
    if cell_bohr is not None:
        positions = positions @ np.linalg.inv(cell) @ cell_bohr
        cell = np.asarray(cell_bohr)
    masses = np.full(len(atoms), crystal.mass_amu * units.ATOMIC_MASS_UNIT_ME)
    return Reference(positions=positions, cell=cell, masses=masses)


def crystal_surface(crystal, reference: Reference) -> surfaces.Surface:
    if crystal.potential == "deepmd":
        from qsolid.nct.dp_surface import deepmd_surface

        return deepmd_surface(crystal.model_file, reference.positions, reference.cell, crystal.skin_angstrom)
    from qsolid.nct.ase_surface import ase_surface

    module_name, class_name = crystal.ase_calculator.split(":")
    calculator = getattr(importlib.import_module(module_name), class_name)(**json.loads(crystal.ase_calculator_args))
    return ase_surface(calculator, [crystal.element] * len(reference.positions))


def report_units(config, n_sites: int) -> ReportUnits:
    if config.system.kind == "crystal":
        return ReportUnits("meV", "atom", units.HARTREE_EV * 1000.0 / n_sites)
    return ReportUnits("dimensionless", "system", 1.0)
