"""Any ASE calculator as a :class:`~qsolid.nct.surfaces.Surface`.

The calculator runs on the host; JAX code reaches it through
``jax.pure_callback`` (one call per configuration), so the same sampling code
drives it, but it cannot be differentiated: Hessians come from central
differences of its forces (:func:`qsolid.nct.phonons.finite_difference_hessian`).
ASE works in eV and angstrom; its stress is (1/Omega) dE/d(epsilon), so the
virial is W = -Omega * stress.
"""

import jax
import jax.numpy as jnp
import numpy as np

from qsolid import units
from qsolid.nct.surfaces import Surface


def _atoms(symbols, positions_bohr, cell_bohr):
    import ase

    cell = None if cell_bohr is None else np.asarray(cell_bohr) * units.BOHR_ANGSTROM
    return ase.Atoms(symbols, positions=np.asarray(positions_bohr) * units.BOHR_ANGSTROM, cell=cell, pbc=cell is not None)


def ase_surface(calculator, symbols) -> Surface:
    """Wrap `calculator` for atoms `symbols` (positions and cell supplied per call, in bohr)."""

    def host_energy(positions, cell):
        atoms = _atoms(symbols, positions, cell)
        atoms.calc = calculator
        return np.float64(units.ev_to_ha(atoms.get_potential_energy()))

    def energy(positions, cell=None):
        result = jax.ShapeDtypeStruct((), jnp.float64)
        if cell is None:
            return jax.pure_callback(lambda x: host_energy(x, None), result, positions, vmap_method="sequential")
        return jax.pure_callback(host_energy, result, positions, cell, vmap_method="sequential")

    def forces_virial(positions, cell):
        atoms = _atoms(symbols, positions, cell)
        atoms.calc = calculator
        energy_ha = units.ev_to_ha(atoms.get_potential_energy())
        forces = units.ev_to_ha(atoms.get_forces()) * units.BOHR_ANGSTROM
        if cell is None:
            virial = np.asarray(positions).T @ forces
        else:
            stress_ev_a3 = atoms.get_stress(voigt=False)
            virial = -units.ev_to_ha(stress_ev_a3 * atoms.get_volume())
        return energy_ha, forces, virial

    return Surface(energy=energy, differentiable=False, forces_virial=forces_virial, name="ase")
