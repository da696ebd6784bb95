"""Proton g(r) and S(k) of a dvfe run: the ideal gas, two particles against the exact pair distribution, resume.

Tolerances: each g(r) bin and S(k) shell is compared with its exact value in units of its own
reblocked standard error sigma, in the bins where the exact expected pair count of the whole
evaluation is at least 25 (there the count is close enough to Gaussian; the ideal gas of N = 16 has
them all, two particles leave out the smallest r). With 40 bins (6 shells), the bound |z| < 4 on every
one fails by chance with probability < 40 * 1.7e-4 < 1 % even with error bars estimated from 64 steps
(Student t, 63 degrees of freedom); sum z^2, chi-square with n degrees of freedom, must lie within
n +- 4 sqrt(2 n), which also fails if the error bars are too large.
"""

import jax
import numpy as np
import pytest

from qsolid import rundir, runloop
from qsolid.analysis.rdf import ideal_pair_counts
from qsolid.dvfe import config, driver, observables, potentials, thermo
from tests.dvfe.test_driver import StopAfter, two_particles


def assert_consistent(estimate, error, exact, where=True):
    """Every |z| < 4 and sum z^2 within 4 standard deviations of its chi-square expectation (bins `where`)."""
    where = np.broadcast_to(where, np.shape(estimate))
    assert np.all(error[where] > 0)
    z = (np.asarray(estimate)[where] - np.broadcast_to(exact, where.shape)[where]) / error[where]
    assert np.max(np.abs(z)) < 4.0, z
    n = z.size
    if n >= 10:
        assert abs(np.sum(z**2) - n) < 4.0 * np.sqrt(2.0 * n), np.sum(z**2)


def bins_with_counts(exact_g, structure, configurations):
    """Bins whose exact expected pair count over all configurations is at least 25."""
    expected = configurations * exact_g * ideal_pair_counts(structure.edges_bohr, structure.n_atoms, structure.volume_bohr3)
    return expected >= 25


def ideal_gas(**evaluation):
    return config.from_dict({"system": {"n_atoms": 16, "rs": 1.25, "temperature_k": 6000.0},
                             "potential": {"kind": "none"}, "flow": {"kind": "identity"},
                             "sampling": {"batch_size": 1024}, "optimisation": {"steps": 0},
                             "evaluation": {"steps": 64, **evaluation}, "output": {"checkpoint_every": 1000}})


def test_ideal_gas_g_and_s_are_one(tmp_path):
    """Uniform independent points: g(r) = 1 at every r and S(k) = 1 at every k != 0, in expectation."""
    summary = driver.run(ideal_gas(), tmp_path / "run")
    result = observables.read(tmp_path / "run")
    assert len(result["g"]) == observables.RDF_BINS
    assert result["edges_bohr"][-1] == pytest.approx(summary["box_length_bohr"] / 2)  # the inscribed radius
    structure = observables.ProtonStructure(summary["box_length_bohr"], 16)
    assert np.all(bins_with_counts(1.0, structure, 64 * 1024))
    assert_consistent(result["g"], result["g_error"], 1.0)
    assert_consistent(result["s"], result["s_error"], 1.0)
    assert [row["vectors"] for row in summary["structure_factor"]] == [6, 12, 8, 6, 24, 24]  # |m|^2 = 1..6
    np.testing.assert_allclose(result["k_bohr_inv"], 2 * np.pi / summary["box_length_bohr"] * np.sqrt(np.arange(1, 7)))
    assert (tmp_path / "run" / "g_of_r.png").is_file()


def test_exact_two_particle_pair_distribution(float64):
    """thermo.two_particle_pair_distribution: 1 without interaction; a histogram of exact Boltzmann
    samples (rejection from the uniform distribution, through the run's on-device measurement) agrees."""
    ensemble = driver.ensemble_of(two_particles())
    structure = observables.ProtonStructure(ensemble.box_length, 2)
    free = thermo.two_particle_pair_distribution(ensemble, potentials.make_potential("none"), structure.edges_bohr)
    np.testing.assert_allclose(free, 1.0, atol=1e-12)
    potential = potentials.make_potential(*driver.potential_spec_of(two_particles()))
    exact = thermo.two_particle_pair_distribution(ensemble, potential, structure.edges_bohr)
    finer = thermo.two_particle_pair_distribution(ensemble, potential, structure.edges_bohr, grid=32, radial_points=12,
                                                  polar_points=24, azimuthal_points=48)
    np.testing.assert_allclose(exact, finer, rtol=1e-9)  # converged quadrature
    assert exact[0] < 0.5  # the repulsion digs a correlation hole: the check has something to see

    rng = np.random.default_rng(0)
    steps, batch, pair = 64, 1024, two_particles().potential
    samples = []
    while sum(map(len, samples)) < steps * batch:
        relative = rng.uniform(0.0, ensemble.box_length, (batch * 16, 3))
        energy = np.asarray(potentials.gaussian_pair(relative, ensemble.box_length, pair.strength_ha, pair.width_bohr))
        samples.append(relative[rng.uniform(size=len(relative)) < np.exp(-energy / ensemble.temperature)])
    relative = np.concatenate(samples)[: steps * batch]
    positions = np.stack([relative, np.zeros_like(relative)], axis=1) + rng.uniform(0, ensemble.box_length, (len(relative), 1, 3))
    series = structure.empty(steps)
    measure = jax.jit(structure)
    for step in range(steps):
        structure.record(series, step, measure(positions[step * batch:(step + 1) * batch]))
    result = structure.summarise(series)
    assert_consistent(result["g"], result["g_error"], exact, bins_with_counts(exact, structure, steps * batch))


@pytest.mark.slow
def test_two_particles_trained_flow_g_matches_the_boltzmann_pair_distribution(tmp_path):
    """The trained two-particle flow's g(r) against exp(-v(r)/k_BT) / normalisation, bin by bin."""
    pair = two_particles(evaluation={"steps": 256})
    summary = driver.run(pair, tmp_path / "run")
    result = observables.read(tmp_path / "run")
    ensemble = driver.ensemble_of(pair)
    potential = potentials.make_potential(*driver.potential_spec_of(pair))
    with driver.precision.use("float64"):
        exact = thermo.two_particle_pair_distribution(ensemble, potential, result["edges_bohr"])
    where = bins_with_counts(exact, observables.ProtonStructure(ensemble.box_length, 2), 256 * pair.sampling.batch_size)
    assert np.sum(where) >= observables.RDF_BINS // 2  # r from about 0.6 bohr to L/2
    assert_consistent(result["g"], result["g_error"], exact, where)
    assert summary["pair_distribution_peak_bohr"] > 0.9 * summary["pair_distribution_r_max_bohr"]


def test_resume_during_evaluation_gives_identical_structure(tmp_path, monkeypatch):
    """Stopped in the middle of the evaluation phase and resumed: g(r), S(k) and summary bit for bit."""
    small = two_particles(system={"n_atoms": 3}, sampling={"batch_size": 8}, optimisation={"steps": 4},
                          evaluation={"steps": 6}, output={"checkpoint_every": 3})  # N = 3: no quadrature
    reference = driver.run(small, tmp_path / "whole")
    stop = StopAfter(8)  # one count over both phases: after evaluation step 4 of 6
    monkeypatch.setattr(runloop, "StopRequest", lambda: stop)
    assert driver.run(small, tmp_path / "parts") is None
    monkeypatch.undo()
    assert driver.run(small, tmp_path / "parts", resume=True) == reference
    whole, parts = (observables.read(tmp_path / name) for name in ("whole", "parts"))
    assert set(whole) == set(parts)
    for key in whole:
        np.testing.assert_array_equal(parts[key], whole[key])
    assert np.all(np.isfinite(whole["g"])) and len(rundir.read_stats(tmp_path / "parts" / "stats.csv")["step"]) == 10
