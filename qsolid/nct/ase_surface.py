"""Any ASE calculator as a :class:`~qsolid.nct.surfaces.Surface`.

The calculator runs on the host; JAX code reaches it through
``jax.pure_callback`` (one call per configuration), so the same sampling code
drives it, but it cannot be differentiated: Hessians come from central
differences of its forces (:func:`qsolid.nct.phonons.finite_difference_hessian`).
ASE works in eV and angstrom; its stress is (1/Omega) dE/d(epsilon), so the
virial is W = -Omega * stress.

Every call works on a fresh copy of the calculator as it was given. Calculators keep state between calls
(ASE's LennardJones keeps a neighbour list with a skin and rebuilds it only when atoms have moved far
enough), so with one shared instance a configuration's energy would depend in its last bits on the
configurations before it, and a resumed run would not repeat an uninterrupted one.
"""

import copy

import jax
import numpy as np

from qsolid import units
from qsolid.nct.surfaces import Surface


def _atoms(symbols, positions_bohr, lattice_bohr, calculator):
    """ASE atoms (angstrom) with a fresh copy of `calculator` attached (module docstring)."""
    import ase

    lattice = None if lattice_bohr is None else np.asarray(lattice_bohr) * units.BOHR_ANGSTROM
    atoms = ase.Atoms(symbols, positions=np.asarray(positions_bohr) * units.BOHR_ANGSTROM, cell=lattice, pbc=lattice is not None)
    atoms.calc = copy.deepcopy(calculator)
    return atoms


def ase_surface(calculator, symbols) -> Surface:
    """Wrap `calculator` for atoms `symbols` (positions and cell supplied per call, in bohr)."""

    def host_energy(positions, lattice):
        atoms = _atoms(symbols, positions, lattice, calculator)
        return np.asarray(units.ev_to_ha(atoms.get_potential_energy()), positions.dtype)

    def energy(positions, lattice=None):
        positions = jax.numpy.asarray(positions)  # its dtype is the run's precision (qsolid.precision)
        result = jax.ShapeDtypeStruct((), positions.dtype)
        if lattice is None:
            return jax.pure_callback(lambda x: host_energy(x, None), result, positions, vmap_method="sequential")
        return jax.pure_callback(host_energy, result, positions, lattice, vmap_method="sequential")

    def forces_virial(positions, lattice):
        atoms = _atoms(symbols, positions, lattice, calculator)
        energy_ha = units.ev_to_ha(atoms.get_potential_energy())
        forces = units.ev_to_ha(atoms.get_forces()) * units.BOHR_ANGSTROM
        if lattice is None:
            virial = np.asarray(positions).T @ forces
        else:
            stress_ev_a3 = atoms.get_stress(voigt=False)
            virial = -units.ev_to_ha(stress_ev_a3 * atoms.get_volume())
        return energy_ha, forces, virial

    return Surface(energy=energy, differentiable=False, forces_virial=forces_virial, name="ase")
