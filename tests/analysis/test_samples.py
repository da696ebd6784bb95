"""Mean structure from synthetic samples: a known crystal plus Gaussian noise and free drift."""

import numpy as np
import pytest
from .analysis_structures import NOISE_BOHR, cmcm_crystal, synthetic_samples

from qsolid import lattice as lattice_module
from qsolid.analysis.samples import load_samples, mean_structure
from qsolid.analysis.symmetry import find_symmetry, wyckoff_counts
from qsolid.schema import ConfigError

N_SAMPLES = 300


def write_npz(path, fractional, lattices, numbers):
    np.savez(path / "samples.npz", protons_frac=fractional, lattice_bohr=lattices, numbers=numbers)


def aligned_error(mean, reference):
    """Largest Cartesian distance between mean and reference after removing a common shift."""
    difference = lattice_module.minimum_image(mean.fractional - reference.fractional)
    difference -= difference.mean(axis=0)
    return np.abs(difference @ reference.lattice_bohr).max()


@pytest.mark.parametrize("align", ["first", "com"])
def test_noisy_samples_give_back_the_structure_and_space_group(tmp_path, align):
    crystal = cmcm_crystal()
    fractional, lattices = synthetic_samples(crystal, n_samples=N_SAMPLES)
    write_npz(tmp_path, fractional, lattices, crystal.numbers)
    samples = load_samples(tmp_path)
    mean = mean_structure(samples, align)
    # statistical error of a mean coordinate is 0.15 / sqrt(300) = 0.009 bohr; the first-proton
    # alignment adds that proton's noise to every atom (another 0.15 / sqrt(300))
    assert aligned_error(mean.crystal, crystal) < 6 * NOISE_BOHR * np.sqrt(2.0 / N_SAMPLES)
    symmetry = find_symmetry(mean.crystal, 0.1)
    assert symmetry.number == 63 and wyckoff_counts(symmetry.sites) == {"8g": 4}
    expected = NOISE_BOHR * np.sqrt(3.0)
    if align == "first":
        assert mean.rms_spread_bohr[0] == pytest.approx(0.0, abs=1e-12)
        assert np.median(mean.rms_spread_bohr[1:]) == pytest.approx(expected * np.sqrt(2.0), rel=0.1)
    else:
        assert np.median(mean.rms_spread_bohr) == pytest.approx(expected * np.sqrt(1 - 1 / 32), rel=0.1)


def test_constant_pressure_samples_use_the_mean_lattice(tmp_path):
    crystal = cmcm_crystal()
    fractional, lattices = synthetic_samples(crystal, lattice_noise=0.002, seed=1)
    write_npz(tmp_path, fractional, lattices, crystal.numbers)
    samples = load_samples(tmp_path / "samples.npz")
    assert samples.constant_pressure
    mean = mean_structure(samples, "com")
    assert np.allclose(mean.crystal.lattice_bohr, lattices.mean(axis=0))
    assert find_symmetry(mean.crystal, 0.1).number == 63


def test_loader_flattens_walker_axes_and_defaults_to_hydrogen(tmp_path):
    fractional = np.random.default_rng(2).uniform(size=(4, 5, 8, 3))
    np.savez(tmp_path / "samples.npz", protons_frac=fractional, lattice_bohr=np.eye(3) * 6.0)
    samples = load_samples(tmp_path)
    assert samples.fractional.shape == (20, 8, 3)
    assert list(samples.numbers) == [1] * 8


@pytest.mark.parametrize("arrays, message", [
    ({"protons_frac": np.zeros((3, 4, 2)), "lattice_bohr": np.eye(3)}, "protons_frac"),
    ({"protons_frac": np.zeros((3, 4, 3))}, "missing"),
    ({"protons_frac": np.zeros((3, 4, 3)), "lattice_bohr": np.ones((2, 3, 3))}, "lattices"),
    ({"protons_frac": np.zeros((3, 4, 3)), "lattice_bohr": np.eye(3), "numbers": np.ones(5)}, "numbers"),
])
def test_malformed_samples_are_config_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "samples.npz", **arrays)
    with pytest.raises(ConfigError, match=message):
        load_samples(tmp_path)


def test_unknown_alignment_is_a_config_error(tmp_path):
    crystal = cmcm_crystal()
    write_npz(tmp_path, *synthetic_samples(crystal, n_samples=3), crystal.numbers)
    with pytest.raises(ConfigError, match="align"):
        mean_structure(load_samples(tmp_path), "centroid")
