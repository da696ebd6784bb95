import jax
import numpy as np
import pytest

from qsolid import train
from qsolid.config import load_config
from qsolid.vmc import build_problem

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
    state = train.initial_state(problem)
    walkers, _, _ = problem.sample(state.params, state.walkers, jax.random.PRNGKey(1), 0.3, 0.05, 10, state.lattice)
    batch = problem.batch(walkers, problem.measure(state.params, walkers, state.lattice))
    opt_state = problem.optimiser.init(state.params, jax.random.PRNGKey(2), batch)
    new, _ = problem.optimiser.step(state.params, opt_state, jax.random.PRNGKey(3), batch)
    return state.params, new


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


def test_clamped_nuclei_have_only_electronic_parameters():
    old, new = _step({"system.nuclei": "clamped"})
    assert set(new) == {"electrons"}
    assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(new)))
