"""The static structure factor S(k) and its finite-size correction (qsolid.structure_factor).

(a) For a Slater determinant of plane waves S(k) is known exactly at finite N:
    <|rho_k|^2> = N - sum_sigma n_sigma(k), n_sigma(k) the number of occupied q with q + k occupied
    (the exchange hole), <rho_k> = 0 for k != 0. The sampled estimator reproduces it on every shell.
(b) S(k) = k^2 / (2 omega_p) on the smallest shell gives Delta V = omega_p / (4 N) per electron, the
    leading-order value of qsolid.finite_size.
"""

import numpy as np
import pytest

from qsolid import finite_size, structure_factor
from qsolid import lattice as lat
from qsolid.vmc.ansatz.slater import make_spec
from qsolid.vmc.config import load_config
from qsolid.system import build_system


def test_shells_are_sorted_complete_stars():
    lattice = np.diag([2.0, 2.0, 3.0])
    modes, shell_index, shell_k = structure_factor.shells(lattice, 3)
    k = np.linalg.norm(modes @ lat.reciprocal(lattice), axis=1)
    np.testing.assert_allclose(k, shell_k[shell_index], rtol=1e-12)
    assert np.all(np.diff(shell_k) > 0)
    assert [int(np.sum(shell_index == s)) for s in range(3)] == [2, 4, 8]  # +-z; +-x, +-y; +-x+-z, +-y+-z
    assert shell_k[0] == pytest.approx(2 * np.pi / 3.0)


def test_density_modes_of_electrons_and_nuclei(float64):
    rng = np.random.default_rng(0)
    electrons, nuclei = rng.random((5, 3)), rng.random((2, 3))
    charges = np.array([1.0, 2.0])
    modes = np.array([[1, 0, 0], [1, -2, 3]])
    expected = np.exp(-2j * np.pi * electrons @ modes.T).sum(0) - (charges[:, None] * np.exp(-2j * np.pi * nuclei @ modes.T)).sum(0)
    got = structure_factor.density_modes(electrons, np.ones(5), modes) - structure_factor.density_modes(nuclei, charges, modes)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12)


def _exact_plane_wave_s(k_up, k_down, modes, shell_index, n_shells):
    """1 - (1/N) sum_sigma n_sigma(k), averaged over each shell's vectors."""
    n = len(k_up) + len(k_down)
    per_vector = []
    for m in modes:
        pairs = 0
        for occupied in (k_up, k_down):
            shifted = occupied + m
            pairs += sum(bool(np.any(np.all(np.isclose(occupied, q), axis=1))) for q in shifted)
        per_vector.append(1.0 - pairs / n)
    return np.bincount(shell_index, weights=per_vector) / np.bincount(shell_index, minlength=n_shells)


# Seven spin-up electrons at the Baldereschi point (a twist, which must not enter S(k)). The long-wavelength
# modes decorrelate slowly under one-electron moves: with 50 burn-in sweeps and 5 sweeps per step the
# smallest shell sat 8 error bars low; 300 and 10 put every shell within 2.
def test_sampled_structure_factor_of_the_plane_wave_determinant_is_exact(float64, tmp_path):
    from qsolid.vmc import runstate
    from qsolid.vmc.evaluate import STRUCTURE_FACTOR_SHELLS, evaluate
    from qsolid.vmc.problem import build_problem

    config = load_config(
        None,
        {
            "precision": "float64",
            "system.structure": "jellium",
            "system.rs": 5.0,
            "system.electrons": 7,
            "system.spin_polarisation": 7,
            "system.twists": "baldereschi",
            "network.ansatz": "slater",
            "optimisation.steps": 0,
            "sampling.batch_size": 64,
            "sampling.burn_in_sweeps": 300,
            "sampling.electron_step_bohr": 1.25,
            "evaluation.steps": 100,
            "evaluation.sweeps_per_step": 10,
        },
    )
    problem = build_problem(config)
    state = runstate.burn_in(problem, runstate.initial_state(problem), config.sampling.burn_in_sweeps)
    results, finished = evaluate(problem, state, config.evaluation.steps, tmp_path)
    assert finished
    system = build_system(config.system)
    spec = make_spec(system)
    modes, shell_index, shell_k = structure_factor.shells(system.lattice, STRUCTURE_FACTOR_SHELLS)
    exact = _exact_plane_wave_s(spec.k_up[0], spec.k_down[0], modes, shell_index, len(shell_k))  # the one twist
    table = results["structure_factor"]
    assert [row["k_bohr_inv"] for row in table] == pytest.approx(shell_k)
    for row, expected in zip(table, exact):
        assert 0 < row["s_error"] < 0.05
        assert abs(row["s"] - expected) < 4 * row["s_error"], (row, expected)


def test_plasmon_limit_gives_the_leading_order_potential_correction():
    n, volume = 16, 150.0
    lattice = np.eye(3) * volume ** (1 / 3)
    modes, shell_index, shell_k = structure_factor.shells(lattice, 2)
    omega_p = finite_size.plasma_frequency_ha(n, volume)
    s = shell_k**2 / (2 * omega_p)
    steps = 8
    rho_sq = np.tile(n * s, (steps, 1))
    zeros = np.zeros((steps, len(modes)))
    out = structure_factor.summarise(rho_sq, zeros, zeros, shell_index, shell_k, n, volume)
    assert out["structure_factor_small_k_bohr2"] == pytest.approx(1 / (2 * omega_p), rel=1e-12)
    assert out["finite_size_potential_sk_ha"] / n == pytest.approx(omega_p / (4 * n), rel=1e-12)
    assert out["finite_size_potential_sk_ha"] == pytest.approx(0.5 * finite_size.two_body_energy_ha(n, volume), rel=1e-12)
