"""Twisted boundary conditions with quantum nuclei (qsolid.vmc.ansatz.electrons, 'Translation invariance and the twist').

Psi = chi(R) phi(r, R) = exp(i k_t . (sum_i r_i - sum_I Z_I R_I)) x (periodic, joint-translation invariant part):
each electron carries exp(2 pi i t_k), each nucleus exp(-2 pi i Z_I t_k), a joint translation of all particles
of the neutral cell changes nothing, and same-spin exchange flips the sign. Checked in float64 to 1e-10 at
Gamma, at the Baldereschi point and at a random twist, and with the orbitals of a partly filled shell
combining the whole shell (network.open_shells = 'combined') at Gamma (1 of 2 open) and at (0, 1/2, 1/2)
(2 of 4 open).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.vmc.config import load_config

CASES = {
    "gamma": ("gamma", "fixed"),
    "baldereschi": ("baldereschi", "fixed"),
    "random": ([[0.137, -0.311, 0.42]], "fixed"),
    "gamma-combined": ("gamma", "combined"),
    "open-twist-combined": ([[0.0, 0.5, 0.5]], "combined"),
}


def _setup(twists_value, open_shells="fixed"):
    from qsolid.vmc.problem import build_problem

    config = load_config(
        overrides={
            "precision": "float64",
            "system.structure": "bcc",
            "system.supercell": [2, 1, 1],
            "system.nuclei": "quantum",
            "system.twists": twists_value,
            "network.one_electron_width": 8,
            "network.two_electron_width": 4,
            "network.determinants": 2,
            "network.nuclear_width": 8,
            "network.open_shells": open_shells,
        }
    )
    problem = build_problem(config)
    wavefunction = problem.wavefunction
    params = wavefunction.init(jax.random.PRNGKey(1))
    params = jax.tree.map(lambda x: x + 0.05 * jax.random.normal(jax.random.PRNGKey(2), x.shape), params)
    rng = np.random.default_rng(3)
    electrons = jnp.asarray(rng.uniform(size=(problem.system.n_electrons, 3)))
    nuclei = jnp.asarray(problem.system.nuclear_fractional + 0.02 * rng.normal(size=(problem.system.n_nuclei, 3)))
    return problem.system, wavefunction, params, electrons, nuclei


def _psi(wavefunction, params, e, n):
    phase, log_abs = wavefunction.apply(params, e, n)
    return complex(np.exp(log_abs) * np.exp(1j * phase))


@pytest.mark.parametrize("case", CASES)
def test_twist_phases_with_quantum_nuclei(float64, case):
    twists_value, open_shells = CASES[case]
    system, wavefunction, params, e, n = _setup(twists_value, open_shells)
    twist = system.twist
    assert system.quantum_nuclei and (twists_value == "gamma") == (not np.any(twist))
    assert (wavefunction.electron_spec.waves_per_orbital > 1) == (open_shells == "combined")  # an open shell, combined
    psi = _psi(wavefunction, params, e, n)
    assert abs(psi) > 0
    for axis in range(3):
        step = jnp.zeros(3).at[axis].set(1.0)
        for i in (0, system.n_electrons - 1):
            shifted = _psi(wavefunction, params, e.at[i].add(step), n)
            np.testing.assert_allclose(shifted, psi * np.exp(2j * np.pi * twist[axis]), rtol=1e-10, atol=0)
        for nucleus in range(system.n_nuclei):
            shifted = _psi(wavefunction, params, e, n.at[nucleus].add(step))
            charge = system.nuclear_charges[nucleus]
            np.testing.assert_allclose(shifted, psi * np.exp(-2j * np.pi * charge * twist[axis]), rtol=1e-10, atol=0)
    for u in np.random.default_rng(4).uniform(-1, 1, size=(3, 3)):  # joint translations, not lattice vectors
        np.testing.assert_allclose(_psi(wavefunction, params, e + u, n + u), psi, rtol=1e-10, atol=0)
    swapped = e.at[jnp.array([0, 1])].set(e[jnp.array([1, 0])])
    np.testing.assert_allclose(_psi(wavefunction, params, swapped, n), -psi, rtol=1e-10, atol=0)
