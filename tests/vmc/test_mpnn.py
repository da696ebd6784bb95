"""The 'mpnn' ansatz through the engine: optimisers, a resumed KFAC run, quantum protons, the example configs.

The exact symmetries of the network are tested in tests/vmc/ansatz/test_mpnn.py.
"""

import re
from pathlib import Path

import jax
import numpy as np
import pytest

from qsolid import checkpoint, rundir
from qsolid.system import build_system
from qsolid.vmc import runstate
from qsolid.vmc.ansatz.wavefunction import make_wavefunction
from qsolid.vmc.config import load_config
from qsolid.vmc.problem import build_problem, nuclear_network
from tests.vmc import api_runs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXACT_BCC2_HA = -1.8414  # 2-atom bcc cell at Gamma, shared/REFERENCES.md (examples/bcc2_gamma_clamped.toml)
TINY = {
    "system.twists": "gamma",  # the boundary condition of EXACT_BCC2_HA
    "network.ansatz": "mpnn",
    "network.mpnn_node_width": 8,
    "network.mpnn_edge_width": 4,
    "network.determinants": 2,
    "sampling.batch_size": 16,
    "sampling.burn_in_sweeps": 5,
    "sampling.sweeps_per_step": 2,
    "optimisation.steps": 6,
    "pretrain.steps": 0,
    "evaluation.steps": 4,
    "output.checkpoint_every": 100,
}


def _parameter_count(tree) -> int:
    return sum(int(np.size(x)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize(
    "name",
    ["bcc2_gamma_clamped", "h2_box_quantum", "bcc16_rs1.31_clamped", "bcc16_rs1.31_quantum", "h2_crystal_pa3_nvt", "bcc16_ensemble_clamped"],
)
def test_example_configs_validate_with_about_the_parameters_of_the_neural_ones(name):
    counts = {}
    for suffix in ("", "_mpnn"):
        config = load_config(EXAMPLES / f"{name}{suffix}.toml")
        system = build_system(config.system)
        wavefunction = make_wavefunction(system, config.network, nuclear_network(system, config.network))
        counts[config.network.ansatz] = _parameter_count(wavefunction.init(jax.random.PRNGKey(0)))
    assert counts["mpnn"] == pytest.approx(counts["neural"], rel=0.1)


def _one_step(overrides):
    problem = build_problem(load_config(overrides={**TINY, "system.supercell": [2, 1, 1], **overrides}))
    state = runstate.initial_state(problem)
    walkers, _, _ = problem.sample(state.params, state.walkers, jax.random.PRNGKey(1), 0.3, 0.05, state.lattice, sweeps=10)
    batch = problem.batch(walkers, problem.measure(state.params, walkers, state.lattice))
    opt_state = problem.optimiser.init(state.params, jax.random.PRNGKey(2), batch)
    new, _ = problem.optimiser.step(state.params, opt_state, jax.random.PRNGKey(3), batch)
    return state.params, new


@pytest.mark.slow
@pytest.mark.parametrize("optimiser", ["kfac", "adam"])
def test_optimisers_move_the_message_passing_rounds(optimiser):
    """bcc 2x1x1 (complex orbitals): one step updates the graph network itself, not only its heads."""
    old, new = _one_step({"optimisation.optimiser": optimiser})
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(new))
    for part in ("rounds", "amplitude", "backflow"):
        moved = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(old["electrons"][part]), jax.tree.leaves(new["electrons"][part]))]
        assert any(moved), part


def _run(run_dir, overrides, stop_after=None, monkeypatch=None):
    return api_runs.run(run_dir, {**TINY, **overrides}, stop_after, monkeypatch)


@pytest.mark.slow
def test_kfac_run_of_the_bcc2_cell_stops_resumes_and_stays_variational(tmp_path, monkeypatch):
    run_dir = tmp_path / "bcc2"
    assert _run(run_dir, {}, stop_after=3, monkeypatch=monkeypatch) is None
    monkeypatch.undo()
    summary = _run(run_dir, {})
    assert summary["steps"] == TINY["optimisation.steps"] and summary["rewinds"] == 0
    assert rundir.read_stats(run_dir / "stats.csv")["step"] == list(range(TINY["optimisation.steps"]))
    assert np.isfinite(summary["energy_ha"]) and summary["energy_error_ha"] > 0
    assert summary["energy_ha"] > EXACT_BCC2_HA - 5 * summary["energy_error_ha"]
    problem = build_problem(load_config(overrides=TINY))
    initial = runstate.initial_state(problem).params
    trained = runstate.load_checkpoint(problem, checkpoint.latest(run_dir / "checkpoints")).params
    assert not np.allclose(initial["electrons"]["rounds"][0]["node"]["w"], trained["electrons"]["rounds"][0]["node"]["w"])
    count = _parameter_count(initial)
    assert f"wavefunction 'mpnn': {count} parameters\n" in (run_dir / "qsolid.log").read_text()  # clamped: phi alone


@pytest.mark.slow
def test_quantum_protons_run_end_to_end(tmp_path):
    """H2 in a box with quantum protons: both protons are graph nodes, chi is the pair factor."""
    summary = _run(tmp_path / "h2", {"system.structure": "h2-molecule", "system.nuclei": "quantum"})
    assert summary["steps"] == TINY["optimisation.steps"] and summary["rewinds"] == 0
    for key in ("energy_ha", "kinetic_bo_ha", "kinetic_nonbo_ha"):
        assert np.isfinite(summary[key]), key
    assert 0 < summary["proton_acceptance"] <= 1
    log = (tmp_path / "h2" / "qsolid.log").read_text()
    assert "6163 in phi" not in log  # the tiny widths, not the defaults
    assert re.search(r"wavefunction 'mpnn': \d+ parameters: \d+ in phi \(electrons\), 2 in chi \(nuclei\)\n", log)


@pytest.mark.slow  # ~60 CPU-s under load, mostly compiling the KFAC step
def test_jellium_run_end_to_end(tmp_path):
    """Jellium (electron nodes only, Baldereschi twist: complex orbitals) trains with backflow and Jastrow factor;
    no Hartree-Fock pretraining, energies per electron."""
    jellium = {"system.structure": "jellium", "system.rs": 2.0, "system.electrons": 7, "system.spin_polarisation": 1,
               "system.twists": "baldereschi", "pretrain.steps": 100}
    summary = _run(tmp_path / "jellium", jellium)
    assert summary["steps"] == TINY["optimisation.steps"] and summary["rewinds"] == 0
    assert np.isfinite(summary["energy_per_electron_ha"]) and "energy_per_atom_ha" not in summary
    assert not (tmp_path / "jellium" / "hartree_fock.json").exists()


def test_pretraining_fits_the_backflow_orbitals(float64):
    """The pretraining loss reads the mpnn orbitals: zero for targets in their span, not for random ones."""
    from qsolid.vmc.ansatz import mpnn
    from qsolid.vmc.pretrain import make_pretrain_loss

    overrides = {**TINY, "precision": "float64", "system.supercell": [2, 1, 1], "network.determinants": 1}
    system = build_system(load_config(overrides=overrides).system)
    wavefunction = make_wavefunction(system, load_config(overrides=overrides).network)
    spec = wavefunction.electron_spec
    params = wavefunction.init(jax.random.PRNGKey(0))["electrons"]
    rng = np.random.default_rng(0)
    electrons = jax.numpy.asarray(rng.uniform(size=(8, system.n_electrons, 3)))
    nuclei = jax.numpy.broadcast_to(jax.numpy.asarray(system.nuclear_fractional), (8, system.n_nuclei, 3))
    matrices = jax.vmap(lambda e, n: mpnn.orbitals(params, spec, e, n)[0])(electrons, nuclei)
    loss = make_pretrain_loss(spec)
    mixing = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    in_span = [np.einsum("ab,wbe->wae", mixing, m[:, 0]) for m in matrices]  # recombined orbitals: same determinant
    random = [rng.normal(size=m[:, 0].shape) + 1j * rng.normal(size=m[:, 0].shape) for m in matrices]
    groups = jax.numpy.zeros(8, jax.numpy.int32)  # one twist: every walker in group 0
    assert float(loss(params, electrons, nuclei, groups, in_span)) < 1e-8
    assert float(loss(params, electrons, nuclei, groups, random)) > 0.1


def test_jellium_example_is_the_untrained_plane_wave_determinant():
    config = load_config(EXAMPLES / "jellium14_rs1_mpnn.toml")
    assert (config.network.ansatz, config.network.mpnn_backflow, config.network.jastrow) == ("mpnn", False, False)
    assert config.optimisation.steps == 0
