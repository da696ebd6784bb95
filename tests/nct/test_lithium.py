"""The lithium deep potential (REFERENCES.md, "Lithium deep potential"), shipped in examples/data/lithium-dp0."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from qsolid import units

# The NCT functions compute in the caller's precision; these checks are made in float64 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("float64")

# Shipped with the examples (Apache-2.0, examples/data/lithium-dp0/LICENSE).
MODEL = Path(__file__).resolve().parents[2] / "examples" / "data" / "lithium-dp0" / "lithium_dp0.dp"


@pytest.mark.slow
def test_regression_energy_force_pressure():
    from qsolid.nct import dp_surface, surfaces

    np.random.seed(42)
    coord = np.random.uniform(0, 10, (32, 3))
    positions = jnp.asarray(coord / units.BOHR_ANGSTROM)
    lattice = jnp.asarray(np.eye(3) * 10 / units.BOHR_ANGSTROM)
    surface = dp_surface.deepmd_surface(MODEL, positions, lattice)
    energy, forces, virial = surfaces.energy_forces_virial(surface, positions, lattice)
    energy_ev = units.ha_to_ev(float(energy)) / 32
    force_ev_a = np.asarray(forces[0]) * units.HARTREE_EV / units.BOHR_ANGSTROM
    pressure_gpa = float(np.trace(virial)) / 3 / float(jnp.linalg.det(lattice)) * units.GPA_PER_HA_BOHR3
    assert abs(energy_ev / -2.1949168281888127 - 1) < 1e-8
    np.testing.assert_allclose(force_ev_a, [0.5431996510702628, -1.981778317429519, -0.183406746767912], rtol=1e-8)
    assert abs(pressure_gpa / 3.038690200213091 - 1) < 1e-8


@pytest.mark.slow
def test_bcc222_harmonic_reference():
    from qsolid.nct import config, driver, harmonic

    cfg = config.from_dict({"system": {"kind": "crystal", "structure": "bcc", "model_file": str(MODEL)}})
    vibrations = driver.build_vibrations(cfg)
    mev = units.HARTREE_EV * 1000 / 16
    omega = vibrations.frequencies
    assert vibrations.modes.count == 45
    assert abs(vibrations.reference_energy * mev - -3688.3545931) < 1e-5
    assert abs(harmonic.zero_point_energy(omega) * mev - 41.37532124) < 1e-5
    for kelvin, free in ((50, -3648.08235435), (100, -3651.41089303), (300, -3689.16196726)):
        temperature = kelvin / units.HARTREE_KELVIN
        assert abs((vibrations.reference_energy + harmonic.free_energy(omega, temperature)) * mev - free) < 1e-5
    assert abs(harmonic.entropy(omega, 300 / units.HARTREE_KELVIN) / 16 - 3.18398466) < 1e-7
