"""`qsolid dvfe run`: the ideal-gas check, two particles against quadrature, resume, bad input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid import cli, rundir, runloop
from qsolid.analysis.samples import load_samples
from qsolid.dvfe import config, driver, potentials, thermo
from qsolid.profiling import count_compilations

SUMMARY_KEYS = ("free_energy_ha_per_atom", "energy_ha_per_atom", "entropy_kb_per_atom", "pressure_gpa")


def two_particles(**sections):
    data = {"system": {"n_atoms": 2, "rs": 2.0, "temperature_k": 3000.0},
            "potential": {"kind": "gaussian", "strength_ha": 0.019, "width_bohr": 0.8},
            "flow": {"layers": 1, "single_width": 16, "pair_width": 8, "radial_scales": [0.25, 0.5, 1.0]}, "base": {},
            "sampling": {"batch_size": 128}, "optimisation": {"steps": 150, "learning_rate": 1e-2},
            "evaluation": {"steps": 64}, "output": {"checkpoint_every": 1000}}
    for name, values in sections.items():
        data[name] = dict(data[name], **values)
    return config.from_dict(data)


def test_ideal_gas_example_through_the_cli(tmp_path, capsys):
    """examples/dvfe_ideal_gas.toml: N = 16, r_s = 1.25, 6000 K gives the REFERENCES numbers exactly."""
    cli.build_parser()  # imports every command module (qsolid.nct switches float64 on at import)
    x64 = jax.config.jax_enable_x64
    assert cli.main(["dvfe", "run", "examples/dvfe_ideal_gas.toml", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert jax.config.jax_enable_x64 == x64  # the run's precision does not leak
    summary = rundir.read_json(tmp_path / "run" / "summary.json")
    assert abs(summary["entropy_kb_per_atom"] - 7.02873) <= 1e-5  # one unit of the last printed digit
    assert abs(summary["free_energy_ha_per_atom"] - (-0.105051)) <= 1e-6
    assert abs(summary["pressure_gpa"] - 68.330) <= 1e-3
    for key in SUMMARY_KEYS:
        assert summary[f"{key}_error"] == 0.0  # ln p is the same for every configuration
    assert summary["boundary_condition"] == "classical protons, no electrons"
    assert (summary["n_atoms"], summary["rs"], summary["temperature_k"]) == (16, 1.25, 6000.0)
    for name in ("config.toml", "qsolid.log", "stats.csv", "training.png"):
        assert (tmp_path / "run" / name).is_file()
    assert "entropy_kb_per_atom = 7.0287355" in capsys.readouterr().out
    # samples.npz: the last batch of configurations, read by `qsolid analyze RUN_DIR`
    samples = load_samples(tmp_path / "run")
    assert samples.fractional.shape == (256, 16, 3) and np.all((samples.fractional >= 0) & (samples.fractional < 1))
    np.testing.assert_allclose(samples.lattices_bohr, summary["box_length_bohr"] * np.eye(3))
    assert cli.main(["analyze", str(tmp_path / "run")]) == 0
    rdf = np.loadtxt(tmp_path / "run" / "analysis" / "rdf.csv", delimiter=",", skiprows=1)
    outer = rdf[:, 0] > rdf[-1, 0] / 2
    # ideal gas: g = 1; 256 x 120 pairs over the outer 50 bins, about 3 % noise per bin, so 1.5 % on the mean
    assert abs(rdf[outer, 2].mean() - 1.0) < 0.05


@pytest.mark.slow
def test_two_particles_trained_flow_matches_quadrature(tmp_path):
    """F, E, S and P of the trained flow within 3 standard errors of the exact values (quadrature)."""
    summary = driver.run(two_particles(), tmp_path / "run")
    exact = summary["quadrature"]
    for key in SUMMARY_KEYS:
        assert abs(summary[key] - exact[key]) < 3 * summary[f"{key}_error"], key
    # the untrained flow (uniform p) is far from the answer, so training did the work
    ensemble = driver.ensemble_of(two_particles())
    potential = potentials.make_potential(*driver.potential_spec_of(two_particles()))
    axis = (jnp.arange(16) + 0.5) / 16 * ensemble.box_length
    mesh = jnp.stack(jnp.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 1, 3)
    with driver.precision.use("float64"):
        pair_mean = jnp.mean(jax.vmap(lambda r: potential(jnp.concatenate([r, jnp.zeros((1, 3))]), ensemble.box_length))(mesh))
    uniform = thermo.ideal_gas(ensemble)["free_energy_ha_per_atom"] + float(pair_mean) / 2
    assert uniform - exact["free_energy_ha_per_atom"] > 30 * summary["free_energy_ha_per_atom_error"]
    assert summary["rejected_steps"] == 0 and summary["max_inverse_residual_bohr"] < 1e-10
    # the trained flow is a bijection (int p = 1) and, without sampling noise, variational
    trained = summary["flow_quadrature"]
    assert abs(trained["normalisation"] - 1.0) < 1e-8
    assert 0.0 <= trained["free_energy_ha_per_atom"] - exact["free_energy_ha_per_atom"] < 3 * summary["free_energy_ha_per_atom_error"]


class StopAfter:
    """Stands in for runloop.StopRequest: requests a stop at the n-th poll."""

    def __init__(self, polls):
        self.polls = polls

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def requested(self):
        self.polls -= 1
        return self.polls == 0


def stopped_and_resumed(run_config, tmp_path, monkeypatch, polls: int):
    """An uninterrupted run in tmp_path/whole and one stopped at the `polls`-th poll of a phase, then
    resumed, in tmp_path/parts: their statistics rows compared column by column and their summaries,
    bit for bit; the resumed run's statistics returned."""
    reference = driver.run(run_config, tmp_path / "whole")
    monkeypatch.setattr(runloop, "StopRequest", lambda: StopAfter(polls))
    assert driver.run(run_config, tmp_path / "parts") is None
    monkeypatch.undo()
    resumed = driver.run(run_config, tmp_path / "parts", resume=True)
    whole, parts = (rundir.read_stats(tmp_path / name / "stats.csv") for name in ("whole", "parts"))
    for column in whole:
        np.testing.assert_array_equal(parts[column], whole[column])
    assert resumed == reference
    whole_samples, part_samples = (load_samples(tmp_path / name) for name in ("whole", "parts"))
    np.testing.assert_array_equal(part_samples.fractional, whole_samples.fractional)
    return parts


def test_a_base_at_the_temperature_without_electrons_samples_the_exact_distribution(tmp_path):
    """No electrons, base = the potential itself at T, identity flow: p is the exact Boltzmann distribution,
    sampled by the latent Markov chain (sampling.latent_step_bohr). k_B T ln p + V = -k_B T ln Z_base for
    every configuration, so F carries only the AIS error; E, S, P are chain averages. All four within 3
    standard errors of the two-particle quadrature, ln Z_base within 3 of its quadrature, int p = 1."""
    potential = {"kind": "gaussian", "strength_ha": 0.019, "width_bohr": 0.8}
    run = two_particles(flow={"kind": "identity"}, base=dict(potential, ais_walkers=256, ais_stages=50),
                        optimisation={"steps": 0}, evaluation={"steps": 128}, sampling={"latent_step_bohr": 1.0})
    summary = driver.run(run, tmp_path / "run")
    exact = summary["quadrature"]
    assert summary["base"] == "gaussian" and 0.2 < summary["proton_acceptance"] < 0.95
    assert abs(summary["flow_quadrature"]["normalisation"] - 1.0) < 1e-12
    assert abs(summary["base_log_partition"] - summary["base_log_partition_quadrature"]) < 3 * summary["base_log_partition_error"]
    for key in SUMMARY_KEYS:
        error = summary[f"{key}_error"]
        assert 0 < error and abs(summary[key] - exact[key]) < 3 * error, (key, summary[key], exact[key], error)


@pytest.mark.slow  # 30-40 s
def test_a_monotone_flow_corrects_a_hotter_base_without_electrons(tmp_path):
    """No electrons, base = the potential at 2T, monotone flow: one-to-one (int p = 1), F[p] variational
    and 150 steps close more than half of the base's gap to the exact F."""
    potential = {"kind": "gaussian", "strength_ha": 0.019, "width_bohr": 0.8}
    base = dict(potential, temperature_k=6000.0, ais_walkers=256, ais_stages=50)
    trained = driver.run(two_particles(flow={"kind": "monotone", "layers": 2}, base=base,
                                       optimisation={"learning_rate": 3e-3}), tmp_path / "trained")
    untrained = driver.run(two_particles(flow={"kind": "monotone"}, base=base, optimisation={"steps": 0},
                                         evaluation={"steps": 2}), tmp_path / "untrained")
    exact = trained["quadrature"]["free_energy_ha_per_atom"]
    gap = untrained["flow_quadrature"]["free_energy_ha_per_atom"] - exact
    assert trained["rejected_steps"] == 0 and abs(trained["flow_quadrature"]["normalisation"] - 1.0) < 1e-10
    assert gap > 1e-5
    assert 0.0 <= trained["flow_quadrature"]["free_energy_ha_per_atom"] - exact < 0.5 * gap


@pytest.mark.slow  # three short runs, 21-31 s; the quick lane keeps test_observables' resume test
def test_resume_reproduces_an_uninterrupted_run(tmp_path, monkeypatch):
    small = two_particles(sampling={"batch_size": 8}, optimisation={"steps": 6}, evaluation={"steps": 4},
                          output={"checkpoint_every": 2})
    parts = stopped_and_resumed(small, tmp_path, monkeypatch, polls=5)
    assert len(parts["step"]) == 10


@pytest.mark.slow  # three short runs, 21-31 s; the quick lane keeps test_observables' resume test
def test_resume_on_a_latent_chain_reproduces_an_uninterrupted_run(tmp_path, monkeypatch):
    """Without electrons on a Gaussian base, with a monotone flow: the latent Z is checkpointed with the flow."""
    small = two_particles(sampling={"batch_size": 8}, optimisation={"steps": 6}, evaluation={"steps": 4},
                          output={"checkpoint_every": 2}, flow={"kind": "monotone"},
                          base={"kind": "gaussian", "strength_ha": 0.019, "width_bohr": 0.8, "ais_walkers": 8, "ais_stages": 3})
    parts = stopped_and_resumed(small, tmp_path, monkeypatch, polls=5)
    assert len(parts["step"]) == 10


def test_rejected_evaluation_steps_are_counted_and_the_numbers_disowned(tmp_path, monkeypatch, capsys):
    """Every inversion counted as failed: summary.json counts the rejected evaluation steps and the command
    says that its numbers are not results."""
    monkeypatch.setattr(driver.flow.Inversion, "MAX_RESIDUAL_BOHR", -1.0)
    path = tmp_path / "run.toml"
    path.write_text('[system]\nn_atoms = 2\nrs = 2.0\ntemperature_k = 3000.0\n[flow]\nlayers = 1\n'
                    '[sampling]\nbatch_size = 8\n[optimisation]\nsteps = 2\n[evaluation]\nsteps = 3\n')
    assert cli.main(["dvfe", "run", str(path), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    summary = rundir.read_json(tmp_path / "run" / "summary.json")
    assert summary["evaluation_rejected_steps"] == 3 and summary["rejected_steps"] == 5
    assert "warning: 3 of 3 evaluation steps were rejected" in capsys.readouterr().out


def test_the_classical_chain_with_a_monotone_flow_compiles_each_step_once(tmp_path):
    """Training and evaluation steps on a latent chain: after the first step of each, no XLA compilation."""
    small = two_particles(sampling={"batch_size": 8}, optimisation={"steps": 3}, evaluation={"steps": 3},
                          flow={"kind": "monotone"},
                          base={"kind": "gaussian", "strength_ha": 0.019, "width_bohr": 0.8, "ais_walkers": 8, "ais_stages": 3})
    assert_each_phase_compiles_once(small, tmp_path, ((0, 3), (3, 6)))


def assert_each_phase_compiles_once(run_config, tmp_path, phases):
    """Steps [first, end) of each phase: the first compiles jit(step), the others compile nothing."""
    with driver.precision.use(run_config.precision):
        run = driver.Run(run_config, tmp_path / "run")
        for first, end in phases:
            with count_compilations() as compiled:
                run.take_step(first)
            assert "jit(step)" in compiled
            with count_compilations() as later:
                for index in range(first + 1, end):
                    run.take_step(index)
            assert later == [], (first, later)


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[potential]\nkind = "gaussian"\nwidth_bohr = 3.0\n')
    assert cli.main(["dvfe", "run", str(bad), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("qsolid: error: potential.width_bohr:") and "\n" not in error
    assert not (tmp_path / "run").exists()
    bad.write_text("[system]\nn_atom = 16\n")
    assert cli.main(["dvfe", "run", str(bad)]) == 2
    assert "did you mean 'system.n_atoms'" in capsys.readouterr().err
    bad.write_text("[electrons]\nproton_step_bohr = 0.1\n")  # the key before session 20
    assert cli.main(["dvfe", "run", str(bad)]) == 2
    assert "electrons.proton_step_bohr: moved to 'sampling.latent_step_bohr'" in capsys.readouterr().err


def test_an_existing_run_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps({"keep": 1}))
    assert cli.main(["dvfe", "run", "examples/dvfe_ideal_gas.toml", "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text()) == {"keep": 1}


def test_printed_default_config_reads_back(tmp_path, capsys):
    assert cli.main(["dvfe", "config"]) == 0
    (tmp_path / "default.toml").write_text(capsys.readouterr().out)
    assert config.load(tmp_path / "default.toml") == config.from_dict({})
