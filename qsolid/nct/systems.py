"""From a config to the reference structure, the energy surface and the report units.

Model systems are a single "site" per coordinate with unit mass (or
`masses`, for a user's function) and no lattice;
crystals are ase.build.bulk cubic cells repeated into a supercell, converted
to bohr and electron masses through qsolid.units.
"""

import dataclasses
import importlib
import json
from pathlib import Path

import jax
import numpy as np

from qsolid import units
from qsolid.nct import surfaces
from qsolid.nct.phonons import Reference
from qsolid.schema import ConfigError, require

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
    if system.kind == "function":
        return function_surface(system.function, system.dimension)
    return surfaces.quartic(system.frequencies, system.quartic_coefficient, system.pair_coefficient)


def model_reference(system) -> Reference:
    count = system.dimension if system.kind in ("ndco", "function") else len(system.frequencies)
    masses = np.asarray(system.masses, dtype=float) if system.masses else np.ones(count)
    return Reference(positions=np.zeros((count, 1)), lattice=None, masses=masses)


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def _import_attribute(spec: str, field: str):
    """The object `name` of `module:name`; a ConfigError naming `field` if it cannot be imported."""
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any failure of the user's module is a config problem
        raise ConfigError(f"{field}: cannot import module {module_name!r} ({type(error).__name__}: {error})") from None
    if not hasattr(module, name):
        raise ConfigError(f"{field}: module {module_name!r} has no attribute {name!r}")
    return getattr(module, name)


def function_surface(spec: str, dimension: int) -> surfaces.Surface:
    """A user's JAX-traceable V(q) of the flat coordinate vector q (length `dimension`), checked at q = 0."""
    import jax.numpy as jnp

    potential = _import_attribute(spec, "system.function")
    require(callable(potential), "system.function", f"{spec} is not callable")

    def energy(positions, lattice=None):
        return potential(jnp.reshape(positions, (-1,)))

    origin = jnp.zeros((dimension, 1))
    try:
        shape = jax.eval_shape(energy, origin).shape
    except Exception as error:  # a function that does not trace or fails on a vector of this length
        raise ConfigError(f"system.function: {spec}(q) failed for q of length {dimension} "
                          f"({type(error).__name__}: {_first_line(error)})") from None
    require(shape == (), "system.function", f"{spec}(q) must return a scalar, got shape {shape}")
    require(bool(np.isfinite(energy(origin))), "system.function", f"{spec}(0) is not finite")
    return surfaces.Surface(energy=energy, differentiable=True, name=spec)


def lattice_constant_angstrom(crystal) -> float:
    return (crystal.volume_per_atom_angstrom3 * ATOMS_PER_CUBIC_CELL[crystal.structure]) ** (1.0 / 3.0)


def crystal_reference(crystal, lattice_bohr=None) -> Reference:
    """The supercell; with `lattice_bohr` (rows), the same fractional sites in that (strained) cell."""
    import ase.build

    try:
        atoms = ase.build.bulk(crystal.element, crystal.structure, a=lattice_constant_angstrom(crystal), cubic=True)
    except (KeyError, ValueError, RuntimeError) as error:
        raise ConfigError(f"system.element: cannot build {crystal.structure} {crystal.element!r} ({error})") from None
    atoms = atoms.repeat(tuple(crystal.supercell))
    lattice = np.asarray(atoms.cell) / units.BOHR_ANGSTROM
    positions = atoms.get_positions() / units.BOHR_ANGSTROM
    if lattice_bohr is not None:
        positions = positions @ np.linalg.inv(lattice) @ lattice_bohr
        lattice = np.asarray(lattice_bohr)
    masses = np.full(len(atoms), crystal.mass_amu * units.ATOMIC_MASS_UNIT_ME)
    return Reference(positions=positions, lattice=lattice, masses=masses)


def crystal_surface(crystal, reference: Reference) -> surfaces.Surface:
    """The crystal's energy surface; a missing or unreadable model, or a calculator that cannot be built or
    fails at the reference structure, is a one-line ConfigError (checked before a run directory exists)."""
    if crystal.potential == "deepmd":
        surface = _deepmd_surface(crystal, reference)
    else:
        from qsolid.nct.ase_surface import ase_surface

        calculator_class = _import_attribute(crystal.ase_calculator, "system.ase_calculator")
        try:
            calculator = calculator_class(**json.loads(crystal.ase_calculator_args))
        except Exception as error:  # the user's calculator rejects its arguments
            raise ConfigError(f"system.ase_calculator_args: {crystal.ase_calculator} rejected them "
                              f"({type(error).__name__}: {error})") from None
        surface = ase_surface(calculator, [crystal.element] * len(reference.positions))
    try:  # the host calculator directly: a failure inside a JAX callback would also print its traceback
        energy = (surface.forces_virial(reference.positions, reference.lattice)[0] if surface.forces_virial
                  else float(surface.energy(reference.positions, reference.lattice)))
    except Exception as error:  # e.g. an element the calculator or model does not know
        raise ConfigError(f"system.potential: the {crystal.potential} surface fails at the reference structure "
                          f"({type(error).__name__}: {_first_line(error)})") from None
    require(np.isfinite(energy), "system.potential", "the energy at the reference structure is not finite")
    return surface


def _deepmd_surface(crystal, reference: Reference) -> surfaces.Surface:
    path = Path(crystal.model_file)
    require(path.is_file(), "system.model_file", f"no such file: {path}")
    try:
        from qsolid.nct.dp_surface import deepmd_surface, load_model
    except ImportError:
        raise ConfigError("system.potential: 'deepmd' needs deepmd-kit: pip install -e \".[deepmd]\"") from None
    try:
        load_model(str(path))
    except ImportError as error:
        raise ConfigError(f"system.potential: 'deepmd' needs deepmd-kit ({error}): pip install -e \".[deepmd]\"") from None
    except Exception as error:  # anything deepmd-kit raises on a file that is not a model
        raise ConfigError(f"system.model_file: {path} is not a readable DeePMD model ({type(error).__name__})") from None
    return deepmd_surface(str(path), reference.positions, reference.lattice, crystal.skin_angstrom)


def report_units(config, n_sites: int) -> ReportUnits:
    if config.system.kind == "crystal":
        return ReportUnits("meV", "atom", units.HARTREE_EV * 1000.0 / n_sites)
    return ReportUnits("dimensionless", "system", 1.0)
