"""hamiltonian.sparsity_threshold and hamiltonian.walker_chunk change how the local energies are
computed, not their values: compared walker by walker in float64 against the dense, whole-batch
evaluation, with clamped and quantum nuclei."""

import dataclasses
import types

import jax
import numpy as np
import pytest

from qsolid.vmc import runstate
from qsolid.vmc.config import load_config
from qsolid.schema import ConfigError
from qsolid.vmc.memory import walker_chunk
from qsolid.vmc.problem import build_problem

TINY = {
    "precision": "float64",
    "system.supercell": [2, 1, 1],
    "network.one_electron_width": 8,
    "network.two_electron_width": 4,
    "network.layers": 1,
    "network.determinants": 2,
    "network.nuclear_width": 4,
    "sampling.batch_size": 8,
    "pretrain.steps": 0,
}


def _local_energies(overrides):
    problem = build_problem(load_config(overrides={**TINY, **overrides}))
    state = runstate.initial_state(problem)
    walkers, _, _ = problem.sample(state.params, state.walkers, jax.random.PRNGKey(1), 0.3, 0.05, state.lattice, sweeps=5)
    return jax.tree.map(np.asarray, dataclasses.asdict(problem.measure(state.params, walkers, state.lattice)))


@pytest.mark.slow
@pytest.mark.parametrize("nuclei", ["clamped", "quantum"])
def test_sparse_forward_laplacian_and_walker_chunks_give_the_dense_whole_batch_values(nuclei, float64):
    reference = _local_energies({"system.nuclei": nuclei, "hamiltonian.sparsity_threshold": 0})
    assert np.all(np.isfinite(reference["energy"])) and np.ptp(reference["energy"]) > 0  # distinct walkers
    dense_chunks = {"hamiltonian.sparsity_threshold": 0, "hamiltonian.walker_chunk": 4}
    for options in ({"hamiltonian.sparsity_threshold": 6}, dense_chunks):
        values = _local_energies({"system.nuclei": nuclei, **options})
        for name, expected in reference.items():
            np.testing.assert_allclose(values[name], expected, rtol=1e-10, atol=1e-10, err_msg=f"{options}: {name}")


def test_auto_walker_chunk_takes_16_walkers_per_cpu_device_from_16_electrons_up():
    cpu, gpu = types.SimpleNamespace(platform="cpu"), types.SimpleNamespace(platform="gpu")
    assert walker_chunk("auto", 64, 16, [cpu]) == 16
    assert walker_chunk("auto", 128, 54, [cpu, cpu]) == 32  # 16 per device
    assert walker_chunk("auto", 64, 8, [cpu]) == 0  # measured slower at 2 electrons; 8 not measured
    assert walker_chunk("auto", 16, 16, [cpu]) == 0  # the batch is one chunk
    assert walker_chunk("auto", 72, 16, [cpu]) == 0  # 16 does not divide it
    assert walker_chunk("auto", 64, 16, [gpu]) == 0
    assert walker_chunk(8, 64, 2, [gpu]) == 8  # a number is taken as given
    assert build_problem(load_config(overrides={**TINY, "precision": "float32"})).walker_chunk == 0


def test_walker_chunk_must_divide_the_batch():
    with pytest.raises(ConfigError, match="hamiltonian.walker_chunk"):
        build_problem(load_config(overrides={**TINY, "precision": "float32", "hamiltonian.walker_chunk": 3}))


@pytest.mark.slow
def test_sparse_forward_laplacian_keeps_pair_stream_sparse(caplog):
    """folx falls back to dense work, with a warning, on ops it cannot keep sparse (a data-dependent
    select did so in the e-e distance); XLA's deterministic FLOP count shows the saving."""
    from qsolid.profiling import compiled_flops

    overrides = {**TINY, "precision": "float32", "system.supercell": [2, 2, 1], "network.layers": 2}
    flops = {}
    for threshold in (0, 6):
        problem = build_problem(load_config(overrides={**overrides, "hamiltonian.sparsity_threshold": threshold}))
        state = runstate.initial_state(problem)
        flops[threshold] = compiled_flops(problem.measure, state.params, state.walkers, state.lattice)
    assert "materializ" not in caplog.text
    assert flops[6] < 0.8 * flops[0], flops
