import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from qsolid.vmc import runstate
from qsolid.vmc.config import load_config
from qsolid.vmc.problem import build_problem

TINY = {
    "network.one_electron_width": 8,
    "network.two_electron_width": 4,
    "network.layers": 1,
    "network.determinants": 1,
    "network.nuclear_width": 4,
    "sampling.batch_size": 16,
    "system.supercell": [2, 1, 1],
}


def _step(overrides):
    problem = build_problem(load_config(overrides={**TINY, **overrides}))
    state = runstate.initial_state(problem)
    walkers, _, _ = problem.sample(state.params, state.walkers, jax.random.PRNGKey(1), 0.3, 0.05, state.lattice, sweeps=10)
    batch = problem.batch(walkers, problem.measure(state.params, walkers, state.lattice))
    opt_state = problem.optimiser.init(state.params, jax.random.PRNGKey(2), batch)
    new, _ = problem.optimiser.step(state.params, opt_state, jax.random.PRNGKey(3), batch)
    return state.params, new


@pytest.mark.slow
@pytest.mark.parametrize("electronic", ["kfac", "adam"])
def test_chi_takes_adam_steps_of_the_nuclear_learning_rate(electronic):
    """Adam's first step is lr * g / (|g| + eps): every chi parameter with a gradient moves by lr_chi."""
    old, new = _step({"system.nuclei": "quantum", "optimisation.optimiser": electronic, "optimisation.nuclear_learning_rate": 2e-3})
    for before, after in zip(jax.tree.leaves(old["nuclei"]), jax.tree.leaves(new["nuclei"])):
        moved = np.abs(np.asarray(after) - np.asarray(before))
        assert np.all((np.abs(moved - 2e-3) < 2e-4) | (moved == 0))
    nuclear_moved = np.concatenate([np.abs(np.ravel(a) - np.ravel(b)) for a, b in zip(jax.tree.leaves(old["nuclei"]), jax.tree.leaves(new["nuclei"]))])
    assert np.sum(nuclear_moved > 0) > 10  # b, sigma and alpha (the stream waits for alpha != 0: ReZero)
    electron_moved = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(old["electrons"]), jax.tree.leaves(new["electrons"]))]
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(new)) and any(electron_moved)


@pytest.mark.slow  # quick lane under 5 minutes: among its slowest (session 11 durations)
def test_clamped_nuclei_have_only_electronic_parameters():
    old, new = _step({"system.nuclei": "clamped"})
    assert set(new) == {"electrons"}
    assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(new)))


def test_imaginary_local_energy_outliers_are_clipped_like_the_real_part():
    """Psi = exp(a x + i b x): the gradient along b from Im E_L equals the gradient along a when the same
    values are the real part, outlier included (both clipped); unclipped, the outlier would dominate."""
    import jax.numpy as jnp

    from qsolid.vmc import optim

    class Toy:
        @staticmethod
        def apply(params, electrons, nuclei, group=0):
            return params["b"] * electrons[0, 0], params["a"] * electrons[0, 0]

    x = jnp.linspace(-1.0, 1.0, 9)[:, None, None]
    values = jnp.array([0.1, -0.2, 0.05, 0.0, 0.15, -0.1, 0.2, -0.05, 50.0])
    zeros = jnp.zeros(9)
    loss = optim.make_surrogate_loss(Toy, clip_width=2.0)
    grad = lambda real, imag: jax.grad(lambda p: loss(p, optim.Batch(x, x, real, imag, jnp.zeros(9, jnp.int32)))[0])({"a": 0.0, "b": 0.0})
    assert float(grad(zeros, values)["b"]) == pytest.approx(float(grad(values, zeros)["a"]), rel=1e-6)
    unclipped = 2 * np.mean((values - values.mean()) * np.ravel(x))
    assert abs(float(grad(zeros, values)["b"]) - unclipped) > 1.0


LOWER_KFAC_STEP = """
import hashlib, json, sys
from qsolid.vmc import runstate
from qsolid.vmc.config import load_config
from qsolid.vmc.problem import build_problem
problem = build_problem(load_config(overrides=json.loads(sys.argv[1])))
state = runstate.initial_state(problem)
state.opt_state = runstate.init_optimiser(problem, state)
lowered = problem.optimisation_step.lower(state.params, state.opt_state, state.walkers, 0, 0, 0.3, 0.05, state.lattice)
print(hashlib.sha256(lowered.as_text().encode()).hexdigest())
"""


@pytest.mark.slow
def test_every_process_lowers_the_same_kfac_step():
    """The persistent compilation cache finds a program only if its lowering is the same; kfac-jax's
    tracer ordered layer inputs by memory address (qsolid.vmc.optim._trace_kfac_deterministically)."""
    overrides = json.dumps({**TINY, "system.nuclei": "quantum"})
    hashes = {subprocess.run([sys.executable, "-c", LOWER_KFAC_STEP, overrides], capture_output=True, text=True, check=True).stdout
              for _ in range(2)}
    assert len(hashes) == 1


def _spring_batch():
    """A float64 problem with a complex Psi (two twists), its initial walkers and synthetic local
    energies with an outlier (the algebra below holds for any energies; no sampling or Laplacian)."""
    from qsolid import precision
    from qsolid.vmc import optim

    with precision.use("float64"):
        problem = build_problem(load_config(overrides={**TINY, "precision": "float64", "optimisation.optimiser": "spring",
                                                       "system.twists": [[0.1, 0.2, 0.3], [0.25, 0.25, 0.25]],
                                                       "pretrain.steps": 0}))
        state = runstate.initial_state(problem)
        walkers = state.walkers
        rng = np.random.default_rng(3)
        energy, imag = rng.normal(size=(2, len(walkers.group)))
        energy[0] = 40.0  # clipped
        batch = optim.Batch(walkers.electrons, walkers.nuclei, jax.numpy.asarray(energy), jax.numpy.asarray(imag), walkers.group)
    return problem, state.params, batch


def test_spring_solves_damped_stochastic_reconfiguration_with_momentum():
    """Against dense linear algebra in parameter space (float64): Obar^T eps is half the gradient of the
    KFAC/Adam surrogate (same centring per twist, weights and clipping, with the phase), and the kernel
    step equals (S + lambda I)^{-1} (g / 2 + lambda mu phi_prev) with S = Obar^T Obar."""
    from qsolid import precision
    from qsolid.vmc import optim
    from qsolid.vmc.groups import Groups

    problem, params, batch = _spring_batch()
    groups = Groups(np.array([0.25, 0.75]))  # unequal twist weights
    with precision.use("float64"):
        held = optim.HeldBatch(batch, {k: v for k, v in params.items() if k != "electrons"})
        rows, eps, _ = optim.spring_system(problem.wavefunction, 2.0, groups)(params["electrons"], held)
        loss = optim.make_surrogate_loss(problem.wavefunction, 2.0, groups)
        gradient, _ = jax.flatten_util.ravel_pytree(jax.grad(lambda p: loss({**params, "electrons": p}, batch)[0])(params["electrons"]))
        rows, eps, gradient = np.asarray(rows), np.asarray(eps), np.asarray(gradient)
        assert np.abs(rows[1::2]).max() > 1e-3  # the phase rows: Psi is complex
        clipped = groups.clip(batch.energy, batch.group, 2.0)
        assert np.any(np.asarray(clipped) != np.asarray(batch.energy))  # the clipping is exercised
        np.testing.assert_allclose(rows.T @ eps, gradient / 2, rtol=1e-9, atol=1e-12)
        previous = np.random.default_rng(0).normal(size=rows.shape[1]) * 1e-2
        damping, momentum = 1e-3, 0.9
        phi = np.asarray(optim.spring_direction(rows, eps, previous, damping, momentum))
        metric = rows.T @ rows + damping * np.eye(rows.shape[1])
        expected = np.linalg.solve(metric, rows.T @ eps + damping * momentum * previous)
        np.testing.assert_allclose(phi, expected, rtol=1e-7, atol=1e-10 * np.abs(expected).max())
