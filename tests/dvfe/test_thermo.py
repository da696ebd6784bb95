"""Classical terms of the free energy: the ideal gas against REFERENCES and the two-particle quadrature."""

import math

import jax
import numpy as np

from qsolid import units
from qsolid.dvfe import potentials, thermo


def hydrogen(n_atoms, rs, temperature_k, mass=1836.0):
    return thermo.Ensemble(n_particles=n_atoms, box_length=thermo.box_length_bohr(n_atoms, rs),
                           temperature=thermo.kelvin_to_hartree(temperature_k), mass=mass)


def test_ideal_gas_matches_the_references_closed_form():
    """REFERENCES ('Dense hydrogen at finite temperature'): S/N in r_s units with k_B T in Ry, M = 1836."""
    for (n, rs, t), (entropy, free_energy, pressure) in {
        (16, 1.25, 6000.0): (7.02873, -0.105051, 68.330),
        (16, 1.40, 1200.0): (4.95456, -0.013128, 9.727),
    }.items():
        ideal = thermo.ideal_gas(hydrogen(n, rs, t))
        assert abs(ideal["entropy_kb_per_atom"] - entropy) <= 1e-5  # one unit of the last printed digit
        assert abs(ideal["free_energy_ha_per_atom"] - (free_energy)) <= 1e-6
        assert abs(ideal["pressure_gpa"] - pressure) <= 1e-3
        kt_ry = 2.0 * t / units.HARTREE_KELVIN
        box_in_rs = (4.0 * math.pi * n / 3.0) ** (1.0 / 3.0)
        closed = (3 * math.log(box_in_rs) - math.lgamma(n + 1) / n + 1.5
                  + 1.5 * math.log(1836.0 * rs**2 * kt_ry / (4.0 * math.pi)))
        assert abs(ideal["entropy_kb_per_atom"] - closed) < 1e-12


def test_two_particle_quadrature_is_converged_and_its_pressure_is_minus_dF_dOmega(float64):
    strength, width = 0.019, 0.8
    potential = potentials.make_potential("gaussian", strength, width)
    ensemble = hydrogen(2, 2.0, 3000.0)
    coarse = thermo.two_particles(ensemble, potential, 12)
    fine = thermo.two_particles(ensemble, potential, 24)
    for key in fine:
        assert abs(fine[key] - coarse[key]) < 1e-9 * max(1.0, abs(fine[key]))
    step = 1e-4
    free_energy = {sign: 2.0 * thermo.two_particles(
        thermo.Ensemble(2, ensemble.box_length + sign * step, ensemble.temperature, ensemble.mass), potential, 16,
    )["free_energy_ha_per_atom"] for sign in (-1, 1)}
    d_free_energy_d_volume = (free_energy[1] - free_energy[-1]) / (2 * step) / (3 * ensemble.box_length**2)
    assert abs(units.ha_bohr3_to_gpa(-d_free_energy_d_volume) - fine["pressure_gpa"]) < 1e-5
    # the interaction matters: F is well above the ideal gas's
    assert fine["free_energy_ha_per_atom"] - thermo.ideal_gas(ensemble)["free_energy_ha_per_atom"] > 5e-4


def test_gaussian_pair_is_periodic_and_symmetric(float64):
    box = 4.0
    potential = potentials.make_potential("gaussian", 0.3, 1.0)
    x = box * jax.random.uniform(jax.random.PRNGKey(0), (4, 3))
    shifted = x.at[1].add(box * np.array([1.0, 0.0, -2.0]))
    np.testing.assert_allclose(potential(shifted, box), potential(x, box), rtol=1e-12)
    np.testing.assert_allclose(potential(x[::-1] + 0.3, box), potential(x, box), rtol=1e-12)
