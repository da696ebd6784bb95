import dataclasses

import jax
import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from qsolid import lattice as lat
from qsolid import finite_size, units
from qsolid.vmc import npt
from qsolid.schema import ConfigError, parse, to_commented_toml

PRESSURE = 0.01  # Ha/bohr^3 (294 GPa): model pressures are set in atomic units.
ANNEALING = dict(
    lattice_mode="lengths", pressure_gpa=units.ha_bohr3_to_gpa(PRESSURE), initial_temperature_ha=0.05, cooling_rate=0.5
)
SEEDS = (0, 1, 2)
CUBE = (5.0, 5.0, 5.0, 90.0, 90.0, 90.0)


def noisy(model, sigma, seed, common=False):
    """Model enthalpy plus N(0, sigma^2) per estimate; the noise stream is fixed by the seed.

    common=True gives every cell of one call the same noise: the limit of correlated sampling,
    where walkers shared by two cells make their estimates err together.
    """
    rng = np.random.default_rng(seed)
    calls = []

    def estimate(cells, key):
        calls.append(key)
        noise = sigma * rng.standard_normal(1 if common else len(cells))
        return [model(cell) + e for cell, e in zip(cells, np.broadcast_to(noise, len(cells)))]

    estimate.calls = calls
    return estimate


def key_noise(model, sigma):
    """Noise drawn from the key handed to the estimate: a pure function of (cells, key)."""

    def estimate(cells, key):
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)))
        return [model(cell) + sigma * rng.standard_normal() for cell in cells]

    return estimate


def enthalpy_window(sigma, final_temperature):
    """How far above the minimum the held cell can plausibly sit.

    A move is kept when its estimate beat the held estimate by up to
    tau |ln u|: two noisy estimates (3 sigma each) plus tau ln(1e4).
    """
    return 6.0 * sigma + 10.0 * final_temperature


def tolerances(model, x_star, window, to_params):
    """|x_i - x*_i| <= sqrt(2 window (H^-1)_ii) from the Hessian H of the model at its minimum."""
    n, h = len(x_star), 1e-4
    hessian = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            def g(di, dj):
                x = np.array(x_star, dtype=float)
                x[i] += di
                x[j] += dj
                return model(to_params(x))
            hessian[i, j] = (g(h, h) - g(h, -h) - g(-h, h) + g(-h, -h)) / (4 * h * h)
    return np.sqrt(2.0 * window * np.diag(np.linalg.inv(hessian)))


# --- units, Eq. S4, enthalpy -----------------------------------------------------------


@pytest.mark.parametrize("params", [(8.48, 9.6, 5.47, 90, 90, 90), (3.1, 4.2, 5.3, 70.0, 100.0, 115.0)])
def test_lattice_round_trip_eq_s4(params):
    back = lat.parameters_from_lattice(lat.lattice_from_parameters(*map(float, params)))
    np.testing.assert_allclose(back, params, rtol=1e-12, atol=1e-12)
    a, b, c = params[:3]
    al, be, ga = np.deg2rad(params[3:])
    ca, cb, cg = np.cos([al, be, ga])
    factor = 1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg
    assert npt.cell_volume(params) == pytest.approx(a * b * c * np.sqrt(factor), rel=1e-12)


def test_enthalpy_and_units():
    energy, volume = -1.234567, 80.5
    pressure = npt.NptConfig(pressure_gpa=130.0).pressure_ha_bohr3
    assert npt.enthalpy(energy, volume, pressure) == energy + pressure * volume
    assert units.GPA_PER_HA_BOHR3 == pytest.approx(29421.0157, abs=1e-4)  # CODATA 2018
    assert units.ha_bohr3_to_gpa(pressure) == pytest.approx(130.0, rel=1e-12)
    assert units.gpa_to_ha_bohr3(units.ha_bohr3_to_gpa(0.0123)) == pytest.approx(0.0123, rel=1e-12)
    assert npt.enthalpy_ev_per_atom(2.0, 4) == pytest.approx(0.5 * units.HARTREE_EV, rel=1e-14)
    assert npt.volume_angstrom3_per_atom(64 / units.BOHR_ANGSTROM**3, 64) == pytest.approx(1.0, rel=1e-12)


def test_two_body_corrected_enthalpy_adds_omega_p_over_2_and_its_pressure():
    """G_corr - G = omega_p / 2 (Chiesa et al. 2006), and -d(Delta E)/d(Omega) is the two-body pressure the
    summary adds to the virial pressure, so the annealer's corrected cell balances P_ext against P + Delta P."""
    n_electrons, pressure = 8, npt.NptConfig(pressure_gpa=130.0).pressure_ha_bohr3

    def delta(volume):
        corrected = npt.corrected_enthalpy(-4.0, volume, pressure, n_electrons, "two-body")
        return corrected - npt.corrected_enthalpy(-4.0, volume, pressure, n_electrons, "none")

    volume, h = 120.0, 1e-3
    assert npt.corrected_enthalpy(-4.0, volume, pressure, n_electrons, "none") == npt.enthalpy(-4.0, volume, pressure)
    assert delta(volume) == pytest.approx(0.5 * np.sqrt(4 * np.pi * n_electrons / volume), rel=1e-14)
    slope = (delta(volume + h) - delta(volume - h)) / (2 * h)
    assert -slope == pytest.approx(finite_size.two_body_pressure_ha_bohr3(n_electrons, volume), rel=1e-6)


# --- config ---------------------------------------------------------------------------


def test_config_validation_and_documentation():
    config = parse(npt.NptConfig, {"lattice_mode": "full", "pressure_gpa": 95})
    assert config.lattice_mode == "full" and config.pressure_gpa == 95.0
    with pytest.raises(ConfigError, match="did you mean 'move_width'"):
        parse(npt.NptConfig, {"move_widht": 0.1})
    with pytest.raises(ConfigError, match="lattice_mode"):
        parse(npt.NptConfig, {"lattice_mode": "angles"})
    bad_values = {"move_width": 0.0, "initial_temperature_ha": -1.0, "enthalpy_estimates": 0,
                  "lattice_steps": 0, "pressure_gpa": -5.0, "cycles": -1}
    for bad in ({name: value} for name, value in bad_values.items()):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            parse(npt.NptConfig, bad)
    text = to_commented_toml(npt.NptConfig())
    for f in dataclasses.fields(npt.NptConfig):
        assert f"\n{f.name} = " in "\n" + text and f.metadata["doc"]


# --- moves and acceptance ---------------------------------------------------------------


def test_lengths_mode_keeps_angles_and_moves_log_normally():
    start = npt.LatticeParameters(4.0, 5.0, 6.0, 80.0, 95.0, 110.0)
    logs = []
    for i in range(300):
        trial = npt.propose_lattice(jax.random.key(i), start, "lengths", 0.02)
        assert trial[3:] == start[3:]
        logs.append(np.log(np.array(trial[:3]) / np.array(start[:3])))
    logs = np.array(logs)
    assert np.all(np.abs(logs.mean(axis=0)) < 4 * 0.02 / np.sqrt(300))
    np.testing.assert_allclose(logs.std(axis=0), 0.02, rtol=0.15)


def test_full_mode_keeps_the_cell_valid():
    # Start next to a degenerate cell (alpha + beta ~ gamma) with wide moves, accepting everything.
    params = npt.LatticeParameters(3.0, 4.0, 5.0, 60.0, 60.0, 118.0)
    angles_moved = 0
    for i in range(400):
        trial = npt.propose_lattice(jax.random.key(i), params, "full", 0.1)
        assert npt.cell_is_valid(trial) and npt.cell_volume(trial) > 0.0
        angles_moved += trial[3:] != params[3:]
        params = trial
    assert angles_moved == 400
    assert not npt.cell_is_valid((3.0, 4.0, 5.0, 60.0, 60.0, 121.0))
    assert not npt.cell_is_valid((3.0, -4.0, 5.0, 90.0, 90.0, 90.0))


def test_fixed_mode_never_moves():
    start = (4.0, 5.0, 6.0, 90.0, 90.0, 90.0)
    assert npt.propose_lattice(jax.random.key(0), start, "fixed", 0.5) == start
    estimate = noisy(lambda p: 0.0, 1.0, 0)
    config = npt.NptConfig(lattice_mode="fixed")
    result = npt.anneal(estimate, start, config, jax.random.key(0), 50)
    assert result.lattice == start and estimate.calls == [] and len(result.history["step"]) == 0
    assert all(npt.stage_at(s, config).name != "lattice" for s in range(npt.total_steps(config)))


def test_lundy_mees_and_metropolis_acceptance():
    assert npt.lundy_mees(0, 0.1, 0.002) == 0.1
    assert npt.lundy_mees(500, 0.1, 0.002) == pytest.approx(0.05, rel=1e-15)
    assert all(npt.accept_lattice(jax.random.key(i), -1e-3, 1e-9) for i in range(20))
    assert not npt.accept_lattice(jax.random.key(0), float("nan"), 1.0)
    assert not npt.accept_lattice(jax.random.key(0), 1e-9, 0.0)
    n = 2000
    accepted = np.mean([npt.accept_lattice(jax.random.key(i), 0.02 * np.log(2.0), 0.02) for i in range(n)])
    assert abs(accepted - 0.5) < 4 * np.sqrt(0.25 / n)


# --- the annealer finds known minima ------------------------------------------------------


def test_harmonic_volume_model_lengths_mode():
    # E = K (Omega - Omega0)^2 / (2 Omega0): dG/dOmega = K (Omega - Omega0)/Omega0 + P = 0.
    omega0, bulk, sigma, steps = 100.0, 0.05, 1e-3, 1500
    omega_star = omega0 * (1 - PRESSURE / bulk)

    def model_of_volume(omega):
        return 0.5 * bulk * (omega - omega0) ** 2 / omega0 + PRESSURE * omega

    def model(params):
        return model_of_volume(npt.cell_volume(params))

    found = minimize_scalar(model_of_volume, bounds=(10, 200), method="bounded", options={"xatol": 1e-8}).x
    assert found == pytest.approx(omega_star, abs=1e-5)
    config = npt.NptConfig(**ANNEALING)
    window = enthalpy_window(sigma, npt.lundy_mees(steps, config.initial_temperature_ha, config.cooling_rate))
    tolerance = np.sqrt(2 * window * omega0 / bulk)
    for seed in SEEDS:
        result = npt.anneal(noisy(model, sigma, seed), CUBE, config, jax.random.key(seed), steps)
        assert abs(npt.cell_volume(result.lattice) - omega_star) < tolerance, (seed, result.lattice)
        assert result.lattice[3:] == (90.0, 90.0, 90.0)


def _orthorhombic_model(params):
    """Springs on a, b, c (optimal 4, 5, 6 bohr; stiffness 0.5, 0.3, 0.2 Ha/bohr^2) plus P Omega."""
    springs = 0.5 * np.array([0.5, 0.3, 0.2]) * (np.array(params[:3]) - [4.0, 5.0, 6.0]) ** 2
    return np.sum(springs) + PRESSURE * npt.cell_volume(params)


@pytest.mark.parametrize("sigma", [0.0, 1e-3])
def test_anisotropic_model_lengths_mode(sigma):
    steps = 1500

    def to_params(x):
        return (*x, 90.0, 90.0, 90.0)

    x_star = minimize(lambda x: _orthorhombic_model(to_params(x)), [4.0, 5.0, 6.0], tol=1e-12).x
    config = npt.NptConfig(**ANNEALING)
    window = enthalpy_window(sigma, npt.lundy_mees(steps, config.initial_temperature_ha, config.cooling_rate))
    tolerance = tolerances(_orthorhombic_model, x_star, window, to_params)
    for seed in SEEDS:
        result = npt.anneal(
            noisy(_orthorhombic_model, sigma, seed), CUBE, config, jax.random.key(seed), steps
        )
        error = np.abs(np.array(result.lattice[:3]) - x_star)
        assert np.all(error < tolerance), (seed, result.lattice, x_star)


def test_skewed_model_full_mode():
    angles0 = np.deg2rad([75.0, 100.0, 110.0])
    sigma, steps = 1e-3, 2500

    def model(params):
        angles = np.deg2rad(params[3:])
        return _orthorhombic_model(params) + 0.5 * 5.0 * np.sum((angles - angles0) ** 2)

    def to_params(x):
        return (*x[:3], *np.rad2deg(x[3:]))

    x_star = minimize(lambda x: model(to_params(x)), [4.0, 5.0, 6.0, *angles0], tol=1e-12).x
    config = npt.NptConfig(**{**ANNEALING, "lattice_mode": "full"})
    window = enthalpy_window(sigma, npt.lundy_mees(steps, config.initial_temperature_ha, config.cooling_rate))
    tolerance = tolerances(model, x_star, window, to_params)
    for seed in SEEDS:
        result = npt.anneal(noisy(model, sigma, seed), CUBE, config, jax.random.key(seed), steps)
        x = np.array([*result.lattice[:3], *np.deg2rad(result.lattice[3:])])
        assert np.all(np.abs(x - x_star) < tolerance), (seed, result.lattice, to_params(x_star))
        assert np.all(np.abs(np.array(result.lattice[3:]) - 90.0) > 5.0)


# --- bookkeeping: estimates, per-atom temperature, reproducibility ----------------------------


def test_history_and_estimate_averaging():
    estimate = noisy(_orthorhombic_model, 1e-2, 0)
    config = npt.NptConfig(enthalpy_estimates=3, **ANNEALING)
    result = npt.anneal(estimate, CUBE, config, jax.random.key(0), 20, start_step=7)
    assert len(estimate.calls) == 3 * 20 + 3  # the held G is estimated once, at the start
    assert len({tuple(np.asarray(jax.random.key_data(k))) for k in estimate.calls}) == len(estimate.calls)
    h = result.history
    assert set(h) == set(npt.HISTORY_COLUMNS) and all(len(v) == 20 for v in h.values())
    np.testing.assert_array_equal(h["step"], np.arange(7, 27))
    np.testing.assert_allclose(h["temperature_ha"], 0.05 / (1 + 0.5 * np.arange(7, 27)), rtol=1e-15)
    np.testing.assert_array_equal(h["enthalpy_ha"][h["accepted"]], h["trial_enthalpy_ha"][h["accepted"]])
    assert result.enthalpy_ha == h["enthalpy_ha"][-1]
    assert tuple(h[k][-1] for k in ("a_bohr", "b_bohr", "c_bohr")) == result.lattice[:3]


def test_reestimate_current_pairs_both_cells_on_one_sample():
    estimate = noisy(_orthorhombic_model, 1e-2, 0)
    config = npt.NptConfig(reestimate_current=True, **ANNEALING)
    npt.anneal(estimate, CUBE, config, jax.random.key(0), 10)
    assert len(estimate.calls) == 10  # one sample per move, both cells measured on it


def test_paired_estimates_cancel_noise_common_to_both_cells():
    # Noise 100x the held-cell tolerance of the noiseless search: kept estimates wander off,
    # paired ones (correlated sampling) see only G' - G and find the minimum as if noiseless.
    steps, sigma = 1500, 0.1

    def to_params(x):
        return (*x, 90.0, 90.0, 90.0)

    x_star = minimize(lambda x: _orthorhombic_model(to_params(x)), [4.0, 5.0, 6.0], tol=1e-12).x
    config = npt.NptConfig(**ANNEALING)
    window = enthalpy_window(0.0, npt.lundy_mees(steps, config.initial_temperature_ha, config.cooling_rate))
    tolerance = tolerances(_orthorhombic_model, x_star, window, to_params)
    paired = dataclasses.replace(config, reestimate_current=True)
    for seed in SEEDS:
        result = npt.anneal(noisy(_orthorhombic_model, sigma, seed, common=True), CUBE, paired, jax.random.key(seed), steps)
        assert np.all(np.abs(np.array(result.lattice[:3]) - x_star) < tolerance), (seed, result.lattice, x_star)
    kept = [npt.anneal(noisy(_orthorhombic_model, sigma, s, common=True), CUBE, config, jax.random.key(s), steps) for s in SEEDS]
    assert any(np.any(np.abs(np.array(r.lattice[:3]) - x_star) > tolerance) for r in kept)


def test_per_atom_temperature_divides_delta_g():
    atoms = 4
    model = key_noise(_orthorhombic_model, 0.05)

    def model_per_atom(cells, key):
        return [g / atoms for g in model(cells, key)]

    per_cell = npt.NptConfig(**ANNEALING)
    compared_per_atom = npt.anneal(
        model, CUBE, dataclasses.replace(per_cell, temperature_per="atom"), jax.random.key(1), 40, atoms=atoms
    )
    scaled = npt.anneal(model_per_atom, CUBE, per_cell, jax.random.key(1), 40)
    unscaled = npt.anneal(model, CUBE, per_cell, jax.random.key(1), 40)
    np.testing.assert_array_equal(compared_per_atom.history["accepted"], scaled.history["accepted"])
    np.testing.assert_array_equal(compared_per_atom.history["volume_bohr3"], scaled.history["volume_bohr3"])
    assert unscaled.acceptance < compared_per_atom.acceptance
    with pytest.raises(ValueError, match="atoms"):
        npt.anneal(model, CUBE, npt.NptConfig(lattice_mode="lengths", temperature_per="atom"), jax.random.key(1), 1)


def test_same_key_same_history_and_resume_in_chunks():
    model = key_noise(_orthorhombic_model, 0.02)
    config = npt.NptConfig(**{**ANNEALING, "lattice_mode": "full"})
    start = CUBE
    whole = npt.anneal(model, start, config, jax.random.key(3), 30)
    again = npt.anneal(model, start, config, jax.random.key(3), 30)
    other = npt.anneal(model, start, config, jax.random.key(4), 30)
    first = npt.anneal(model, start, config, jax.random.key(3), 12)
    second = npt.anneal(
        model, first.lattice, config, jax.random.key(3), 18, start_step=12, current_enthalpy=first.enthalpy_ha
    )
    for name in npt.HISTORY_COLUMNS:
        np.testing.assert_array_equal(whole.history[name], again.history[name])
        chunked = np.concatenate([first.history[name], second.history[name]])
        np.testing.assert_array_equal(whole.history[name], chunked)
    assert whole.lattice == second.lattice and whole.enthalpy_ha == second.enthalpy_ha
    assert not np.array_equal(whole.history["volume_bohr3"], other.history["volume_bohr3"])
    # Legacy uint32 keys work too and are reproducible.
    def legacy_model(cells, key):
        noise = 0.02 * np.random.default_rng(np.asarray(key)).standard_normal()
        return [_orthorhombic_model(cell) + noise for cell in cells]

    legacy = [npt.anneal(legacy_model, start, config, jax.random.PRNGKey(3), 5) for _ in range(2)]
    np.testing.assert_array_equal(legacy[0].history["volume_bohr3"], legacy[1].history["volume_bohr3"])


# --- schedule --------------------------------------------------------------------------------


def test_schedule_order_lengths_and_annealing_counter():
    config = npt.NptConfig(
        lattice_mode="lengths", warmup_steps=3, lattice_steps=2, wavefunction_steps=4, cycles=3,
        annealing_steps_per_lattice_step=10,
    )
    expected = [("warmup", i) for i in range(3)] + 3 * (
        [("lattice", i) for i in range(2)] + [("wavefunction", i) for i in range(4)]
    )
    assert npt.total_steps(config) == len(expected) == 21
    assert [tuple(npt.stage_at(s, config)) for s in range(21)] == expected
    assert [npt.cycle_at(s, config) for s in range(21)] == [-1] * 3 + [0] * 6 + [1] * 6 + [2] * 6
    counters = [npt.annealing_step_at(s, config) for s in range(22)]
    for s in range(21):
        moves = 10 if npt.stage_at(s, config).name == "lattice" else 0
        assert counters[s + 1] - counters[s] == moves
    assert counters[-1] == 3 * 2 * 10
    for bad in (-1, 21):
        with pytest.raises(ValueError):
            npt.stage_at(bad, config)
    fixed = dataclasses.replace(config, lattice_mode="fixed")
    assert npt.total_steps(fixed) == 3 + 3 * 4 and npt.annealing_step_at(npt.total_steps(fixed), fixed) == 0
    default = npt.NptConfig()  # 'fixed' by default: no lattice stages
    assert default.lattice_mode == "fixed" and npt.total_steps(default) == 300 + 4 * 100
