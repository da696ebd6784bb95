"""Jellium with the plane-wave Slater determinant: the exact test of the twist and Ewald plumbing.

(a) The Hartree-Fock energy computed by qsolid (qsolid.vmc.jellium: kinetic sum_k |k|^2 / 2, exchange of the
    Ewald pair potential, Madelung term from qsolid.ewald) reproduces the jellium table of
    shared/REFERENCES.md to 1e-6 Ha per electron.
(b) The `slater` ansatz sampled through the normal VMC machinery (sampler, folx Laplacian, JAX Ewald sum)
    gives the same energy within 3 standard errors, with a local kinetic energy equal to sum_k |k|^2 / 2
    on every walker.
(c) So does the 'mpnn' ansatz with network.mpnn_backflow = false and no Jastrow factor, untrained: the same
    energy as (b) on the same seed, to 1e-6 Ha per electron.
"""

import dataclasses

import numpy as np
import pytest

from qsolid import twists
from qsolid.vmc import jellium
from qsolid.vmc.config import load_config
from qsolid.ewald import ewald_energy, make_ewald
from qsolid.schema import ConfigError
from qsolid.system import build_system
from qsolid.units import volume_from_rs

REFERENCE_HF_PER_ELECTRON = [  # shared/REFERENCES.md, "Jellium": Gamma point, unpolarised closed shells
    (14, 1.0, 0.60653433),
    (14, 2.0, 0.02303895),
    (14, 5.0, -0.05803919),
    (54, 1.31, 0.242439),
]
REFERENCE_KINETIC_54_RS131 = 0.619673
REFERENCE_THERMODYNAMIC_LIMIT_RS131 = (0.643873, -0.349744, 0.294129)  # kinetic, exchange, total
MADELUNG_SIMPLE_CUBIC = -2.837297479480620  # xi L for a unit charge in a cube of side L with its background


def _config(n, rs, twists_value="gamma", **overrides):
    values = {
        "precision": "float64",
        "system.structure": "jellium",
        "system.rs": rs,
        "system.electrons": n,
        "system.twists": twists_value,
        "network.ansatz": "slater",
        "optimisation.steps": 0,
        **overrides,
    }
    return load_config(None, values)


def _cube(n, rs):
    return np.eye(3) * (n * volume_from_rs(rs)) ** (1 / 3)


@pytest.mark.parametrize("n, rs, expected", REFERENCE_HF_PER_ELECTRON)
def test_hartree_fock_energy_matches_the_reference_table(n, rs, expected):
    system = build_system(_config(n, rs).system)
    energy = jellium.hartree_fock_energy(system.lattice, system.n_up, system.n_down, system.twist)
    assert energy.per_electron == pytest.approx(expected, abs=1e-6)
    if n == 54:
        assert energy.kinetic / n == pytest.approx(REFERENCE_KINETIC_54_RS131, abs=1e-6)


def test_madelung_term_of_a_cell_without_nuclei():
    # Both Ewald implementations treat a lone charge with its neutralising background alike.
    lattice = _cube(14, 2.0)
    side = lattice[0, 0]
    assert jellium.madelung_constant(lattice) * side == pytest.approx(MADELUNG_SIMPLE_CUBIC, rel=1e-12)
    setup = make_ewald(lattice, [-1.0])
    assert float(ewald_energy(setup, lattice, np.zeros((1, 3)))) == pytest.approx(
        0.5 * jellium.madelung_constant(lattice), rel=1e-6
    )


def test_thermodynamic_limit_formula_matches_the_reference():
    kinetic, exchange = jellium.thermodynamic_limit_per_electron(1.31)
    expected_kinetic, expected_exchange, expected_total = REFERENCE_THERMODYNAMIC_LIMIT_RS131
    assert kinetic == pytest.approx(expected_kinetic, abs=1e-6)
    assert exchange == pytest.approx(expected_exchange, abs=1e-6)
    assert kinetic + exchange == pytest.approx(expected_total, abs=1e-6)


def test_twist_average_moves_towards_the_thermodynamic_limit():
    # N = 54, r_s = 1.31: the Gamma point lies 52 mHa/electron below the infinite-system HF energy;
    # the Baldereschi point and a Monkhorst-Pack average remove most of the one-body (shell) error.
    lattice = _cube(54, 1.31)
    limit = REFERENCE_THERMODYNAMIC_LIMIT_RS131[2]
    gamma = jellium.hartree_fock_energy(lattice, 27, 27).per_electron
    grid = twists.full_grid((4, 4, 4), True)
    averaged = jellium.twist_averaged_energy_per_electron(lattice, 27, 27, grid, np.full(len(grid), 1 / len(grid)))
    baldereschi = jellium.hartree_fock_energy(lattice, 27, 27, twists.baldereschi_point(lattice)).per_electron
    assert abs(averaged - limit) < 0.5 * abs(gamma - limit)
    assert abs(baldereschi - limit) < 0.5 * abs(gamma - limit)


@pytest.mark.parametrize("n, rs, grid, shift", [(54, 1.31, (2, 2, 2), True), (16, 1.31, (4, 4, 4), True), (14, 1.0, (3, 3, 3), False)])
def test_irreducible_twist_average_of_the_slater_energy_is_exact(n, rs, grid, shift):
    # Open shells at the twists are filled by their lowest-exchange subset, so E(t) has the cell's symmetry
    # and the spglib-reduced grid reproduces the full-grid average (a fixed tie-break would miss it by ~1 mHa).
    lattice = _cube(n, rs)
    reduced = twists.monkhorst_pack(lattice, np.zeros((0, 3)), [], grid, shift)
    full = twists.full_grid(grid, shift)
    assert len(reduced) < len(full)
    exact = jellium.twist_averaged_energy_per_electron(lattice, n // 2, n // 2, full, np.full(len(full), 1 / len(full)))
    quadrature = jellium.twist_averaged_energy_per_electron(lattice, n // 2, n // 2, reduced.fractional, reduced.weights)
    assert quadrature == pytest.approx(exact, abs=1e-12)


def _sampled_energy(config, tmp_path):
    from qsolid.vmc import runstate
    from qsolid.vmc.evaluate import evaluate
    from qsolid.vmc.problem import build_problem

    problem = build_problem(config)
    state = runstate.initial_state(problem)
    state = runstate.burn_in(problem, state, config.sampling.burn_in_sweeps)
    local = problem.measure(state.params, state.walkers, state.lattice)
    results, finished = evaluate(problem, state, config.evaluation.steps, tmp_path)
    assert finished
    return problem, local, results


def _sampling_overrides(rs: float, polarisation: int) -> dict:
    """64 walkers, 50 burn-in sweeps, 40 evaluation steps of 5 sweeps, electron moves of rs / 4."""
    return {
        "system.spin_polarisation": polarisation,
        "sampling.batch_size": 64,
        "sampling.burn_in_sweeps": 50,
        "sampling.electron_step_bohr": 0.25 * rs,
        "evaluation.steps": 40,
        "evaluation.sweeps_per_step": 5,
    }


# Without a Jastrow factor opposite spins meet with finite probability, so the local potential has a 1/r tail:
# its variance is finite but the sample mean is skewed (rare large positive values), and short runs of the
# unpolarised gas tend to land low by a few error bars. The twisted case is therefore fully spin-polarised
# (the exchange hole removes the tail); the unpolarised case is the Gamma point of the reference table.
@pytest.mark.parametrize("n, rs, twist_value, polarisation", [(14, 2.0, "gamma", 0), (7, 5.0, "baldereschi", 7)])
def test_sampled_slater_energy_is_the_hartree_fock_energy(float64, tmp_path, n, rs, twist_value, polarisation):
    overrides = _sampling_overrides(rs, polarisation)
    config = _config(n, rs, twist_value, **overrides)
    problem, local, results = _sampled_energy(config, tmp_path)
    system = problem.system
    exact = jellium.hartree_fock_energy(system.lattice, system.n_up, system.n_down, system.twist)
    # Every orbital is an eigenfunction of -Delta/2: the local kinetic energy is constant.
    np.testing.assert_allclose(np.asarray(local.kinetic), exact.kinetic, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(local.energy_imag), 0.0, atol=1e-9)
    assert results["boundary_condition"] == system.boundary_condition
    assert "energy_per_atom_ha" not in results
    error = results["energy_per_electron_error_ha"]
    assert 0 < error < 0.02
    assert abs(results["energy_per_electron_ha"] - exact.per_electron) < 3 * error


MPNN_PLANE_WAVES = {  # the message-passing network with its backflow and Jastrow factor switched off, untrained
    "network.ansatz": "mpnn",
    "network.mpnn_backflow": False,
    "network.jastrow": False,
    "network.determinants": 1,
    "network.mpnn_node_width": 8,
    "network.mpnn_edge_width": 4,
    "network.mpnn_rounds": 1,
}


@pytest.mark.slow  # two sampled runs each, ~30 CPU-s
@pytest.mark.parametrize("n, rs, twist_value, polarisation", [(14, 2.0, "gamma", 0), (7, 5.0, "baldereschi", 7)])
def test_mpnn_without_backflow_samples_the_plane_wave_determinant(float64, tmp_path, n, rs, twist_value, polarisation):
    """|Psi|^2 equal to slater's (tests/vmc/ansatz/test_mpnn.py) and the same seed: the same Markov chain, so the
    same energy to rounding; and that energy is the Hartree-Fock energy within 3 standard errors."""
    overrides = _sampling_overrides(rs, polarisation)
    (tmp_path / "slater").mkdir()
    (tmp_path / "mpnn").mkdir()
    _, _, slater = _sampled_energy(_config(n, rs, twist_value, **overrides), tmp_path / "slater")
    problem, local, results = _sampled_energy(_config(n, rs, twist_value, **overrides, **MPNN_PLANE_WAVES), tmp_path / "mpnn")
    system = problem.system
    exact = jellium.hartree_fock_energy(system.lattice, system.n_up, system.n_down, system.twist)
    np.testing.assert_allclose(np.asarray(local.kinetic), exact.kinetic, rtol=1e-10)
    assert results["energy_per_electron_ha"] == pytest.approx(slater["energy_per_electron_ha"], abs=1e-6)
    error = results["energy_per_electron_error_ha"]
    assert 0 < error < 0.02
    assert abs(results["energy_per_electron_ha"] - exact.per_electron) < 3 * error


def test_jellium_config_errors():
    with pytest.raises(ConfigError, match="optimisation.steps"):
        _config(14, 1.0, **{"optimisation.steps": 10})
    with pytest.raises(ConfigError, match="network.ansatz: jellium needs 'slater'"):
        load_config(None, {"system.structure": "jellium", "system.rs": 1.0, "system.electrons": 14})
    with pytest.raises(ConfigError, match="system.electrons"):
        load_config(None, {"system.structure": "jellium", "system.rs": 1.0, "network.ansatz": "slater", "optimisation.steps": 0})
    with pytest.raises(ConfigError, match="system.spin_polarisation"):
        build_system(_config(14, 1.0, **{"system.spin_polarisation": 1}).system)
    with pytest.raises(ConfigError, match="system.electrons"):
        load_config(None, {"system.electrons": 4})  # a crystal's electrons come from its protons
    polarised = build_system(_config(14, 1.0, **{"system.spin_polarisation": 4}).system)
    assert (polarised.n_up, polarised.n_down, polarised.n_nuclei) == (9, 5, 0)
    assert dataclasses.asdict(polarised)["nuclear_masses"] is None


@pytest.mark.parametrize("mode", ["shared", "separate"])
def test_twist_set_gives_each_twists_energy_and_the_average(float64, tmp_path, capsys, mode):  # float64: restores x64 after
    """One run with the walkers split over the twists (shared), or one sub-run per twist (separate)."""
    import json

    from qsolid.cli import main

    config = tmp_path / "config.toml"
    config.write_text(
        'precision = "float64"\n'
        '[system]\nstructure = "jellium"\nrs = 5.0\nelectrons = 7\nspin_polarisation = 7\n'
        f'twists = [[0.0, 0.0, 0.0], [0.5, 0.5, 0.25]]\ntwist_mode = "{mode}"\n'
        '[network]\nansatz = "slater"\n[optimisation]\nsteps = 0\n'
        '[sampling]\nbatch_size = 32\nburn_in_sweeps = 50\nelectron_step_bohr = 1.2\n'
        '[evaluation]\nsteps = 30\nsweeps_per_step = 5\n'
    )
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out)]) == 0
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["boundary_condition"] == "2 twists, equal weights"
    sub_runs = sorted(p.name for p in out.iterdir() if p.name.startswith("twist-"))
    assert sub_runs == (["twist-00", "twist-01"] if mode == "separate" else [])
    lattice = _cube(7, 5.0)
    exact = [jellium.hartree_fock_energy(lattice, 7, 0, t).per_electron for t in ((0, 0, 0), (0.5, 0.5, 0.25))]
    for entry, expected in zip(evaluation["per_twist"], exact):
        assert abs(entry["energy_per_electron_ha"] - expected) < 3 * entry["energy_per_electron_error_ha"]
    error = evaluation["energy_per_electron_error_ha"]
    assert abs(evaluation["energy_per_electron_ha"] - np.mean(exact)) < 3 * error
    assert abs(np.mean(exact) - exact[0]) > 3 * error  # the twists differ by more than the noise
    assert "2 twists, equal weights" in capsys.readouterr().out
