"""Pretraining: the network's determinants approach the periodic Hartree-Fock determinant."""

import pytest
import jax
import jax.numpy as jnp
import numpy as np

from qsolid import rundir
from qsolid.vmc import runstate
from qsolid.vmc.config import load_config
from qsolid.vmc.pretrain import span_residual, hf_orbital_targets, pretrain, real_orbital_gauge, solve_hartree_fock
from qsolid.vmc.problem import build_problem


def test_real_gauge_removes_global_phase():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((6, 3))
    rotated = real * np.exp(1j * rng.uniform(0, 2 * np.pi, 3))[None, :]
    fixed = real_orbital_gauge(rotated)
    np.testing.assert_allclose(fixed.imag, 0.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(fixed.real), np.abs(real), rtol=1e-12)


def test_span_residual_ignores_orbital_mixing_but_not_span(float64):
    rng = np.random.default_rng(1)
    hf = jnp.asarray(rng.standard_normal((3, 40)) + 1j * rng.standard_normal((3, 40)))
    mixing = jnp.asarray(rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3)))
    assert float(span_residual(mixing @ hf, hf)) < 1e-9  # the 1e-8 regulariser leaves ~1e-12
    other = jnp.asarray(rng.standard_normal((3, 40)))
    assert float(span_residual(other, hf)) > 0.5


@pytest.mark.slow
def test_pretraining_brings_complex_supercell_to_hartree_fock(tmp_path):
    """4-atom bcc cell at r_s = 1.31 (partly filled k shell, complex orbitals)."""
    config = load_config(
        overrides={
            "system.supercell": [2, 1, 1],
            "system.rs": 1.31,
            "network.one_electron_width": 16,
            "network.two_electron_width": 4,
            "network.determinants": 1,
            "sampling.batch_size": 32,
            "sampling.sweeps_per_step": 2,
            "pretrain.steps": 100,
        }
    )
    problem = build_problem(config)
    (hf,) = solve_hartree_fock(problem.system, config.pretrain.basis)
    losses = []
    state = runstate.initial_state(problem)
    pretrain(problem, state, [hf], rundir.setup_logging(tmp_path), lambda step, row: losses.append(row["pretrain_loss"]))
    assert state.pretrained
    assert np.mean(losses[-5:]) < 0.25 * np.mean(losses[:5])
    assert hf_orbital_targets(hf, problem.system, state.walkers.electrons)[0].shape == (32, 2, 2)
    # The pretrained wavefunction's energy is near the HF energy (the Jastrow factor lowers it a little).
    state = runstate.burn_in(problem, state, 50)
    energies = []
    for step in range(8):
        state.walkers, _, _ = runstate.sample(problem, state, state.params, jax.random.PRNGKey(step), 4)
        energies.append(float(jnp.mean(problem.measure(state.params, state.walkers, state.lattice).energy)))
    print("pretrain losses", losses[:3], losses[-3:], "energy", np.mean(energies), "HF", hf.energy_ha)
    assert abs(np.mean(energies) - hf.energy_ha) < 0.3, (np.mean(energies), hf.energy_ha)


@pytest.mark.slow
def test_a_short_pretraining_reports_its_residual_and_warns(tmp_path):
    """Two pretraining steps leave most of the Hartree-Fock orbitals outside the network's span: the
    run says so in one line and warns (qsolid.vmc.pretrain.RESIDUAL_WARNING)."""
    import qsolid
    from qsolid.progress import Silent
    from tests.vmc import api_runs

    class Notes(Silent):
        def __init__(self):
            self.notes = []

        def note(self, message):
            self.notes.append(message)

    progress = Notes()
    overrides = {**api_runs.TINY_RUN, "optimisation.steps": 1, "evaluation.steps": 2, "pretrain.steps": 2,
                 "pretrain.basis": "sto-3g"}
    qsolid.run(load_config(overrides=overrides), tmp_path / "run", progress=progress)
    (line,) = [n for n in progress.notes if n.startswith("pretraining: 2 steps, orbital residual ")]
    residual = float(line.split("residual ")[1].split()[0])
    assert residual > 0.01
    assert any(n.startswith("warning: an orbital residual above 0.01") for n in progress.notes)


def test_the_residual_warning_names_the_options_that_apply():
    """bcc16 at the Baldereschi point ends N_sigma = 8 inside a shell of 4: the warning suggests combining it;
    the 8-atom Pa-3 main job's Baldereschi point has closed shells and gets no such hint."""
    from qsolid.system import build_system
    from qsolid.vmc.driver import _pretraining_hints

    def hints(**overrides):
        config = load_config(overrides=overrides)
        return _pretraining_hints(config, build_system(config.system))

    bcc16 = {"system.structure": "bcc", "system.supercell": [2, 2, 2], "system.twists": "baldereschi",
             "network.open_shells": "fixed"}
    assert [h.split()[0] for h in hints(**bcc16)] == ["open_shells"]
    assert hints(**{**bcc16, "network.open_shells": "combined"}) == []
    grid = {**bcc16, "system.twists": {"grid": [4, 4, 4], "shift": True}}
    assert [h.split()[0] for h in hints(**grid)] == ["open_shells", "twist_orbitals"]
    assert hints(**{"system.structure": "pa3", "system.rs": 1.5, "system.twists": "baldereschi"}) == []
