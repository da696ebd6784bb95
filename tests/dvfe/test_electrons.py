"""Quantum electrons in the variational free energy (qsolid.dvfe.electrons): the exact 'slater' check,
the cubic reference cell, resume, bad input."""

import jax
import numpy as np
import pytest

from qsolid import cli, precision, schema
from qsolid.dvfe import config, driver, electrons, quench
from qsolid.schema import ConfigError
from tests.dvfe.test_driver import assert_each_phase_compiles_once, stopped_and_resumed


def two_protons(**sections):
    """Two protons at r_s = 2, 30000 K, with 'slater' electrons: E_X known exactly for every X."""
    data = {"system": {"n_atoms": 2, "rs": 2.0, "temperature_k": 30000.0},
            "flow": {"kind": "identity"}, "base": {},
            "electrons": {"enabled": True, "walkers_per_configuration": 4, "burn_in_sweeps": 2, "sweeps_per_step": 1},
            "network": {"ansatz": "slater"},
            "sampling": {"batch_size": 64, "latent_step_bohr": 100.0}, "optimisation": {"steps": 0}, "evaluation": {"steps": 64},
            "output": {"checkpoint_every": 1000}}
    for name, values in sections.items():
        data[name] = dict(data[name], **values)
    return config.from_dict(data)


@pytest.mark.parametrize("n_atoms, expected", [(1, ("sc", (1, 1, 1))), (2, ("bcc", (1, 1, 1))), (8, ("sc", (2, 2, 2))),
                                               (16, ("bcc", (2, 2, 2))), (32, ("fcc", (2, 2, 2))), (54, ("bcc", (3, 3, 3)))])
def test_the_electrons_start_on_a_cubic_crystal_filling_the_box(n_atoms, expected):
    assert electrons.reference_crystal(n_atoms) == expected


def test_slater_electrons_give_the_exact_free_energy_and_pressure_of_the_flow(tmp_path):
    """Identity flow (p uniform), 'slater' electrons: F[p] and P[p] by quadrature of the exact E_X
    (electrons.slater_potential) against the Monte Carlo estimate through the whole electron path
    (proton moves, electron sweeps, local energies, virial), within 3 standard errors. The proton
    step of 100 bohr on a 4-bohr torus draws every configuration afresh."""
    summary = driver.run(two_protons(), tmp_path / "run")
    exact = summary["flow_quadrature"]
    assert abs(exact["normalisation"] - 1.0) < 1e-12
    assert summary["boundary_condition"] == "classical protons; electrons at gamma, no finite-size correction"
    for key in ("free_energy_ha_per_atom", "pressure_gpa"):
        error = summary[f"{key}_error"]
        assert 0 < error and abs(summary[key] - exact[key]) < 3 * error, (key, summary[key], exact[key], error)


def test_slater_potential_is_the_electron_gas_plus_the_proton_plasma():
    """E_X = E_HF(jellium) + the Ewald energy of the protons in their background, at a general X."""
    from qsolid.ewald import coulomb_energy
    from qsolid.vmc import jellium

    run = two_protons()
    with precision.use("float64"):
        problem = electrons.make_problem(run, np.zeros((run.sampling.batch_size, 2, 3)) + [[0, 0, 0], [0.5, 0.5, 0.5]])
        box = float(problem.system.lattice[0, 0])
        positions = np.array([[0.1, 0.2, 0.3], [1.7, 2.9, 0.4]])
        energy = float(electrons.slater_potential(problem, 2)(jax.numpy.asarray(positions), box))
    expected = coulomb_energy(problem.system.lattice, positions, [1.0, 1.0]) + jellium.hartree_fock_energy(
        problem.system.lattice, 1, 1).total
    assert abs(energy - expected) < 1e-9


def test_a_coulomb_base_at_the_temperature_is_the_exact_distribution_of_slater_electrons(tmp_path):
    """Base = the protons' Coulomb energy at T, identity flow: with 'slater' electrons p is then the exact
    Boltzmann distribution (E_X = E_HF + that energy). F, E, S and P of the run, whose ln Z_base comes from
    annealed importance sampling and whose protons from the latent Metropolis chain, against the exact
    two-particle quadrature within 3 standard errors; ln Z_base against its quadrature likewise. A quench
    of p^50 (the base's Coulomb repulsion at T / 50) ends near the bcc pair distance sqrt(3) L / 2."""
    summary = driver.run(two_protons(base={"kind": "coulomb", "ais_walkers": 128, "ais_stages": 50},
                                     sampling={"latent_step_bohr": 1.0}), tmp_path / "run")
    exact = summary["quadrature"]
    assert summary["base"] == "coulomb" and summary["flow_quadrature"]["normalisation"] == pytest.approx(1.0, abs=1e-12)
    assert abs(summary["base_log_partition"] - summary["base_log_partition_quadrature"]) < 3 * summary["base_log_partition_error"]
    for key in ("free_energy_ha_per_atom", "energy_ha_per_atom", "entropy_kb_per_atom", "pressure_gpa"):
        error = summary[f"{key}_error"]
        assert 0 < error and abs(summary[key] - exact[key]) < 3 * error, (key, summary[key], exact[key], error)
    record = quench.quench(tmp_path / "run", beta=50.0, steps=100, walkers=8)
    bcc = np.sqrt(3.0) / 2.0 * summary["box_length_bohr"]
    assert 0.9 * bcc < record["nearest_neighbour_bohr"] <= bcc + 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["backflow", "monotone"])
def test_a_flow_trained_on_a_softer_coulomb_base_stays_one_to_one_and_reaches_the_exact_free_energy(tmp_path, kind):
    """examples/dvfe_h2_slater_30000k.toml shortened: the base at twice the temperature, the flow trained.
    The map stays one-to-one (int p = 1 by quadrature), its exact F[p] lies above the exact F (variational)
    by less than 2 mHa/atom, and the run's F estimate within 3 standard errors of F[p]."""
    data = schema.to_dict(config.load("examples/dvfe_h2_slater_30000k.toml"))
    run = config.from_dict({**data, "optimisation": {**data["optimisation"], "steps": 200},
                            "evaluation": {"steps": 128}, "flow": {**data["flow"], "kind": kind}})
    summary = driver.run(run, tmp_path / "run")
    flow_exact, exact = summary["flow_quadrature"], summary["quadrature"]["free_energy_ha_per_atom"]
    assert summary["rejected_steps"] == 0
    assert abs(flow_exact["normalisation"] - 1.0) < 1e-6
    assert 0 <= flow_exact["free_energy_ha_per_atom"] - exact < 2e-3
    error = summary["free_energy_ha_per_atom_error"]
    assert abs(summary["free_energy_ha_per_atom"] - flow_exact["free_energy_ha_per_atom"]) < 3 * error


@pytest.mark.slow  # 65 s: the quick lane stays under 5 minutes (session 15 durations)
def test_each_phase_compiles_its_step_once(tmp_path):
    """Warm-up, training and evaluation steps (KFAC on a 'neural' Psi, a Coulomb base): after the first
    step of each phase, no XLA compilation at all (a correctness test, not a timing one)."""
    small = config.from_dict({
        "precision": "float32", "system": {"n_atoms": 2, "rs": 1.5, "temperature_k": 6000.0},
        "flow": {"layers": 1, "single_width": 8, "pair_width": 4},
        "base": {"kind": "coulomb", "ais_walkers": 8, "ais_stages": 3},
        "electrons": {"enabled": True, "walkers_per_configuration": 2, "burn_in_sweeps": 2, "warmup_steps": 2},
        "network": {"one_electron_width": 8, "two_electron_width": 4, "layers": 1, "determinants": 1},
        "sampling": {"batch_size": 4}, "optimisation": {"steps": 3}, "evaluation": {"steps": 3}})
    assert_each_phase_compiles_once(small, tmp_path, ((0, 2), (2, 5), (5, 8)))


@pytest.mark.slow  # 50 s (compiles the joint KFAC step): the quick lane stays under 5 minutes
def test_a_flow_update_rejected_for_its_inversion_leaves_psi_training(tmp_path, monkeypatch):
    """Every inversion counted as failed (MAX_RESIDUAL_BOHR < 0): each training step rejects the flow's update
    and the latent move, and still keeps Psi's update and the electrons' new positions."""
    monkeypatch.setattr(electrons.flow.Inversion, "MAX_RESIDUAL_BOHR", -1.0)
    small = config.from_dict({
        "system": {"n_atoms": 2, "rs": 1.5, "temperature_k": 6000.0},
        "flow": {"layers": 1, "single_width": 8, "pair_width": 4},
        "electrons": {"enabled": True, "walkers_per_configuration": 2, "burn_in_sweeps": 2, "warmup_steps": 1},
        "network": {"one_electron_width": 8, "two_electron_width": 4, "layers": 1, "determinants": 1},
        "sampling": {"batch_size": 4}, "evaluation": {"steps": 1}})
    with precision.use(small.precision):
        run = driver.Run(small, tmp_path / "run")
        run.take_step(0)  # warm-up: Psi alone
        before = jax.tree.map(np.asarray, {key: run.state[key] for key in ("params", "latent", "wavefunction", "walkers")})
        rows = [run.take_step(index) for index in (1, 2)]
        after = jax.tree.map(np.asarray, {key: run.state[key] for key in before})
    assert all(row["rejected"] == 1 and row["wavefunction_rejected"] == 0 for row in rows)
    for key in ("params", "latent"):
        jax.tree.map(np.testing.assert_array_equal, after[key], before[key])
    for key in ("wavefunction", "walkers"):
        assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(after[key]), jax.tree.leaves(before[key])))


@pytest.mark.slow
def test_resume_with_electrons_reproduces_an_uninterrupted_run(tmp_path, monkeypatch):
    small = config.from_dict({
        "system": {"n_atoms": 2, "rs": 1.5, "temperature_k": 6000.0},
        "flow": {"layers": 1, "single_width": 8, "pair_width": 4},
        "electrons": {"enabled": True, "walkers_per_configuration": 2, "burn_in_sweeps": 2, "warmup_steps": 2},
        "network": {"one_electron_width": 8, "two_electron_width": 4, "layers": 1, "determinants": 1},
        "sampling": {"batch_size": 4}, "optimisation": {"steps": 2}, "evaluation": {"steps": 2},
        "output": {"checkpoint_every": 2}})
    parts = stopped_and_resumed(small, tmp_path, monkeypatch, polls=1)
    assert list(parts["phase"]) == [2, 2, 0, 0, 1, 1]


def test_a_box_no_cubic_crystal_fills_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(ConfigError, match="system.n_atoms: 6 protons fill no cubic"):
        two_protons(system={"n_atoms": 6})
    bad = tmp_path / "bad.toml"
    bad.write_text('[base]\nkind = "coulomb"\nais_walkers = 8\n')
    assert cli.main(["dvfe", "run", str(bad), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip().startswith("qsolid: error: base.ais_walkers: must be at least sampling.batch_size")
    bad.write_text('[electrons]\nenabled = true\ntwists = "auto"\n')
    assert cli.main(["dvfe", "run", str(bad), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("qsolid: error: electrons.twists:") and "\n" not in error
    assert not (tmp_path / "run").exists()
