"""Lithium deep potential against REFERENCES.md: regression point and harmonic bcc/fcc 2x2x2 numbers.

Prints JSON (energies in meV/atom, pressure in GPa). Run: python benchmarks/nct_lithium_reference.py [MODEL]
"""

import json
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from qsolid import precision, units
from qsolid.nct import config, driver, dp_surface, harmonic, surfaces

MODEL = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[1] / "examples/data/lithium-dp0/lithium_dp0.dp")


def regression():
    np.random.seed(42)
    coord = np.random.uniform(0, 10, (32, 3))
    positions = jnp.asarray(coord / units.BOHR_ANGSTROM)
    cell = jnp.asarray(np.eye(3) * 10 / units.BOHR_ANGSTROM)
    energy, forces, virial = surfaces.energy_forces_virial(dp_surface.deepmd_surface(MODEL, positions, cell), positions, cell)
    return {
        "energy_per_atom_ev": units.ha_to_ev(float(energy)) / 32,
        "force_atom0_ev_per_angstrom": (np.asarray(forces[0]) * units.HARTREE_EV / units.BOHR_ANGSTROM).tolist(),
        "pressure_gpa": float(np.trace(virial)) / 3 / float(jnp.linalg.det(cell)) * units.GPA_PER_HA_BOHR3,
    }


def harmonic_numbers(lattice):
    cfg = config.from_dict({"system": {"kind": "crystal", "structure": lattice, "model_file": MODEL}})
    vibrations = driver.build_vibrations(cfg)
    n = len(vibrations.reference.positions)
    mev = units.HARTREE_EV * 1000 / n
    omega = vibrations.frequencies
    out = {"atoms": n, "V0": vibrations.reference_energy * mev, "ZPE": harmonic.zero_point_energy(omega) * mev,
           "lowest_mode_mev": float(omega[0]) * units.HARTREE_EV * 1000}
    for kelvin in (50, 100, 300):
        temperature = kelvin / units.HARTREE_KELVIN
        out[f"F_harm_{kelvin}K"] = (vibrations.reference_energy + harmonic.free_energy(omega, temperature)) * mev
    out["S_harm_300K_kB"] = harmonic.entropy(omega, 300 / units.HARTREE_KELVIN) / n
    return out


if __name__ == "__main__":
    with precision.use("float64"):
        print(json.dumps({"regression": regression(), "bcc222": harmonic_numbers("bcc"), "fcc222": harmonic_numbers("fcc")}, indent=2))
