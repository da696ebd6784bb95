"""Precision is a per-run setting: an NCT run (float64) and a VMC run (float32) in one process
leave the process's flags as they were and do not change each other's numbers."""

import jax
import pytest

import qsolid
from qsolid.nct import config as nct_config
from qsolid.nct import driver as nct_driver
from qsolid.vmc.config import load_config

NCT = {
    "system": {"kind": "harmonic", "frequencies": [0.8, 1.3], "beta": 1.0},
    "sampling": {"batch_size": 64, "sweeps_per_step": 2, "burn_in_sweeps": 5},
    "optimisation": {"steps": 2},
    "evaluation": {"steps": 2, "excitation_walkers": 0},
}
VMC = {
    "network.one_electron_width": 8, "network.two_electron_width": 4, "network.layers": 1,
    "network.determinants": 1, "sampling.batch_size": 8, "sampling.burn_in_sweeps": 5,
    "sampling.sweeps_per_step": 2, "optimisation.steps": 2, "pretrain.steps": 0, "evaluation.steps": 2,
}


@pytest.mark.slow  # quick lane under 5 minutes: among its slowest (session 11 durations)
def test_nct_and_vmc_runs_in_one_process_do_not_leak_precision(tmp_path):
    flags = jax.config.jax_enable_x64
    first = nct_driver.run(nct_config.from_dict(NCT), tmp_path / "nct1")
    assert jax.config.jax_enable_x64 == flags
    vmc = qsolid.run(load_config(overrides=VMC), tmp_path / "vmc")  # float32
    assert jax.config.jax_enable_x64 == flags and vmc["steps"] == 2
    again = nct_driver.run(nct_config.from_dict(NCT), tmp_path / "nct2")
    assert jax.config.jax_enable_x64 == flags
    assert again["free_energy"] == first["free_energy"]  # float64 numbers, bit for bit
    assert "precision float64" in (tmp_path / "nct2" / "qsolid.log").read_text()
    assert "precision float32" in (tmp_path / "vmc" / "qsolid.log").read_text()
