import json
import shutil

import numpy as np
import pytest
import tomli_w

from qsolid import cli, rundir, runloop
from qsolid.nct import config, driver
from qsolid.schema import to_dict

REQUIRED_KEYS = {"free_energy", "free_energy_error", "entropy_kb", "energy", "harmonic_free_energy",
                 "harmonic_entropy_kb", "zero_point_energy_harmonic", "beta", "energy_unit", "per"}


def _config(level_mixing=False, steps=6, evaluation_steps=4, checkpoint_every=2):
    return config.from_dict({
        "system": {"kind": "harmonic", "frequencies": [0.8, 1.3], "beta": 1.0},
        "ansatz": {"levels": 12, "flow_depth": 1, "flow_hidden": 4, "initial_flow_noise": 0.05,
                   "level_mixing": level_mixing},
        "optimisation": {"steps": steps, "learning_rate_flow": 1e-2},
        "sampling": {"batch_size": 64, "sweeps_per_step": 4, "burn_in_sweeps": 20},
        "evaluation": {"steps": evaluation_steps, "excitation_walkers": 0},
        "output": {"checkpoint_every": checkpoint_every},
    })


class _StopAfter:
    """Stands in for runloop.StopRequest: reports a signal after `polls` steps."""

    def __init__(self, polls):
        self.polls = polls

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def requested(self):
        self.polls -= 1
        return self.polls < 0


@pytest.mark.slow
@pytest.mark.parametrize("level_mixing", [False, True])
def test_resume_reproduces_uninterrupted_run(tmp_path, monkeypatch, capsys, level_mixing):
    reference = driver.run(_config(level_mixing), tmp_path / "straight")
    assert REQUIRED_KEYS <= set(reference)
    assert reference["per"] == "system"
    assert reference["level_mixing"] is level_mixing
    path, split = tmp_path / "c.toml", tmp_path / "split"
    path.write_text(tomli_w.dumps(to_dict(_config(level_mixing))))
    monkeypatch.setattr(runloop, "StopRequest", lambda: _StopAfter(2))
    assert cli.main(["nct", "run", str(path), "--out", str(split), "--no-progress"]) == rundir.StopRequest.exit_status()
    assert f"continue with: qsolid nct run --resume {split}" in capsys.readouterr().err
    monkeypatch.setattr(runloop, "StopRequest", lambda: _StopAfter(10**6))
    assert cli.main(["nct", "run", "--resume", str(split), "--no-progress"]) == 0  # the run directory alone
    assert rundir.read_stats(tmp_path / "straight" / "stats.csv") == rundir.read_stats(split / "stats.csv")
    resumed = json.loads((split / "summary.json").read_text())
    assert resumed["free_energy"] == reference["free_energy"]
    assert (tmp_path / "straight" / "training.png").exists()


def test_invalid_config_is_one_line_error_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[optimisation]\nstepz = 3\n')
    out = tmp_path / "run"
    assert cli.main(["nct", "run", str(path), "--out", str(out)]) == 2
    assert "optimisation.stepz: unknown key (did you mean 'optimisation.steps'?)" in capsys.readouterr().err
    assert not out.exists()
    path.write_text('[system]\nkind = "crystal"\npotential = "deepmd"\n')
    assert cli.main(["nct", "run", str(path), "--out", str(out)]) == 2
    assert not out.exists()


def test_default_config_round_trips(capsys):
    assert cli.main(["nct", "config"]) == 0
    import tomllib

    assert to_dict(config.from_dict(tomllib.loads(capsys.readouterr().out))) == to_dict(config.from_dict({}))


@pytest.mark.slow  # quick lane under 5 minutes: among its slowest (session 11 durations)
def test_training_from_perturbed_flow_returns_to_harmonic_free_energy(tmp_path):
    data = to_dict(_config(steps=150, evaluation_steps=20, checkpoint_every=1000))
    data["ansatz"]["initial_flow_noise"] = 0.3
    cfg = config.from_dict(data)
    summary = driver.run(cfg, tmp_path / "run")
    stats = rundir.read_stats(tmp_path / "run" / "stats.csv")
    first = np.mean(stats["free_energy"][:5])
    exact = summary["harmonic_free_energy"]
    assert first - exact > 0.02
    assert abs(summary["free_energy"] - exact) < max(3 * summary["free_energy_error"], 2e-3)


def _argon_npt_config():
    return config.from_dict({
        "system": {"kind": "crystal", "structure": "fcc", "element": "Ar", "mass_amu": 39.948, "volume_per_atom_angstrom3": 40.0,
                   "supercell": [1, 1, 1], "temperature_k": 40.0, "potential": "ase",
                   "ase_calculator_args": '{"sigma": 3.4, "epsilon": 0.0104, "rc": 7.0, "smooth": true}'},
        "ansatz": {"levels": 4, "flow_depth": 1, "flow_hidden": 4},
        "optimisation": {"steps": 8},
        "sampling": {"batch_size": 16, "sweeps_per_step": 2, "burn_in_sweeps": 10},
        "npt": {"lattice_mode": "isotropic", "pressure_gpa": 0.1, "relax_every": 2, "relax_until_step": 6,
                "strain_per_gpa": 0.05},
        "evaluation": {"steps": 1, "excitation_walkers": 0},
        "output": {"checkpoint_every": 5},
    })


def _logged_cells(run_dir):
    lines = (run_dir / "qsolid.log").read_text().splitlines()
    updates = [line for line in lines if "cell update" in line]
    cells = [float(line.split("= [")[1].split()[0]) for line in updates]
    stresses = [[float(x) for x in line.split("diag [")[1].split("]")[0].split()] for line in updates]
    final = [float(line.split("= [")[1].split()[0]) for line in lines if "final cell" in line]
    return np.array(cells), np.array(stresses), np.array(final)


@pytest.mark.slow
def test_constant_pressure_averages_cells_and_resumes(tmp_path):
    """Updates at steps 2, 4, 6; the last is one step from the mean cell and stress of the windows at 4 and 6."""
    cfg = _argon_npt_config()
    summary = driver.run(cfg, tmp_path / "straight")
    updates, stresses, final = _logged_cells(tmp_path / "straight")
    assert len(updates) == 3 and len(final) == 1
    measured_cell = np.mean(updates[:2])  # the windows ending at steps 4 and 6 ran at the cells set at 2 and 4
    mean_stress = np.mean(stresses[1:])
    expected = measured_cell * (1 + cfg.npt.strain_per_gpa * (mean_stress - cfg.npt.pressure_gpa))
    np.testing.assert_allclose(final[0], expected, rtol=1e-7)  # logged to 8 digits
    window_pressures = np.mean(stresses[1:], axis=1)
    assert summary["relaxation_windows_averaged"] == 2
    np.testing.assert_allclose(summary["relaxation_pressure_gpa"], window_pressures.mean(), rtol=1e-6)
    np.testing.assert_allclose(summary["relaxation_pressure_gpa_error"],
                               abs(window_pressures[1] - window_pressures[0]) / 2, rtol=1e-5)
    stats = rundir.read_stats(tmp_path / "straight" / "stats.csv")
    evaluation = np.asarray(stats["phase"]) == 1
    displacement = np.asarray(stats["max_displacement_angstrom"])
    assert summary["max_displacement_angstrom"] == displacement[evaluation].max()
    assert summary["max_displacement_angstrom_training"] == displacement.max()
    volume = stats["volume_per_atom_angstrom3"][-1] / 0.529177210903**3
    np.testing.assert_allclose((4 * volume) ** (1 / 3), final[0], rtol=1e-7)
    # G = F + P Omega (seed 003, Eq. 7) at the final cell, per atom in meV like F
    pv_mev = 0.1 / 29421.01569 * final[0] ** 3 / 4 * 27.211386245988 * 1000
    np.testing.assert_allclose(summary["gibbs_free_energy"] - summary["free_energy"], pv_mev, rtol=1e-6)
    # Resumed from the step-5 checkpoint, between the averaged updates: the running sum is kept.
    split = tmp_path / "split"
    shutil.copytree(tmp_path / "straight", split)
    (split / "checkpoints" / "step_00000009.npz").unlink()
    driver.run(_argon_npt_config(), split, resume=True)
    assert rundir.read_stats(split / "stats.csv") == stats

