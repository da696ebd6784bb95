"""The memory lower bound refuses what cannot fit before anything is allocated, naming the field."""

import pytest

from qsolid.vmc import memory
from qsolid.vmc.config import load_config, main_job_config
from qsolid.schema import ConfigError


def test_estimate_counts_walkers_and_local_energy_activations():
    config = load_config(overrides={"network.two_electron_width": 8, "network.one_electron_width": 32,
                                    "network.determinants": 2, "sampling.batch_size": 10, "system.structure": "bcc"})
    n_e = 2
    per_walker = n_e**2 * 8 * 8 + n_e * 32 * (2 + 3 * n_e) + 2 * (n_e**2 // 2) * (2 + 3 * n_e)
    walkers = 10 * (3 * n_e + 3 * n_e + 1)
    assert memory.estimate_bytes(config, n_nuclei=2) == 4 * (10 * per_walker + walkers)
    double = load_config(overrides={"precision": "float64", "sampling.batch_size": 10, "system.structure": "bcc"})
    assert memory.estimate_bytes(double, 2) == 2 * memory.estimate_bytes(load_config(overrides={
        "sampling.batch_size": 10, "system.structure": "bcc"}), 2)


def test_main_job_fits_easily():
    config = main_job_config()
    assert memory.count_particles(config.system) == (8, None)
    assert memory.estimate_bytes(config, 8) < 100e6  # ~24 MB: far below any machine
    memory.check(config)


def test_huge_supercell_names_supercell():
    config = load_config(overrides={"system.structure": "bcc", "system.supercell": [100, 100, 100]})
    assert memory.count_particles(config.system) == (2_000_000, None)
    with pytest.raises(ConfigError, match=r"^system.supercell: 2000000 nuclei and 2000000 electrons need at least .* per walker"):
        memory.check(config)


def test_huge_batch_names_batch_size_and_says_what_fits():
    config = load_config(overrides={"sampling.batch_size": 10**10})
    with pytest.raises(ConfigError, match=r"^sampling.batch_size: 10000000000 walkers need at least"):
        memory.check(config)
    config = load_config(overrides={"sampling.batch_size": 1000})
    limit = memory.estimate_bytes(config, memory.count_particles(config.system)[0]) - 1
    with pytest.raises(ConfigError, match=r"at most ~99\d walkers fit"):
        memory.check(config, limit_bytes=limit)
    memory.check(config, limit_bytes=limit + 1)


def test_chunks_of_the_batch_need_the_working_set_of_one_chunk():
    """hamiltonian.walker_chunk bounds the local energy's memory: a batch refused whole fits in chunks."""
    whole = load_config(overrides={"system.structure": "bcc", "system.supercell": [2, 2, 2], "sampling.batch_size": 1024,
                                   "hamiltonian.walker_chunk": 0})
    limit = memory.estimate_bytes(whole, 16) - 1
    with pytest.raises(ConfigError, match=r"^sampling.batch_size: 1024 walkers need at least .* \(at most ~1023 walkers fit at once"):
        memory.check(whole, limit_bytes=limit)
    chunked = load_config(overrides={"system.structure": "bcc", "system.supercell": [2, 2, 2], "sampling.batch_size": 1024,
                                     "hamiltonian.walker_chunk": 64})
    memory.check(chunked, limit_bytes=limit)
    with pytest.raises(ConfigError, match=r"^sampling.batch_size: 1024 walkers in chunks of 64 need at least"):
        memory.check(chunked, limit_bytes=limit // 20)
