"""Level mixing: orthonormal rotated Hermite functions, and the exact quartic F they can reach."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from qsolid.nct import config as nct_config
from qsolid.nct import flow, free_energy, hamiltonian, hermite, mode_basis, occupations, phonons, sampling, surfaces
from qsolid.schema import ConfigError

# The NCT functions compute in the caller's precision; these checks are made in float64 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("float64")

QUARTIC_1D_F_BETA1 = 0.22607519  # shared/REFERENCES.md, exact diagonalisation


def _random_params(dimension, levels, scale=0.3):
    generator = scale * jax.random.normal(jax.random.PRNGKey(0), (dimension, levels, levels - 1))
    return {"mixing": {"generator": generator}}


def test_identity_rotation_reproduces_hermite_functions():
    levels = 12
    rotation = mode_basis.rotations({"mixing": mode_basis.init(3, levels, 4)})
    occupation = jnp.array([[0, 3, 11], [5, 1, 2]])
    zeta = jnp.array([[0.3, -2.0, 5.0], [1.0, 30.0, -0.2]])
    np.testing.assert_allclose(mode_basis.log_abs(rotation, occupation, zeta, levels),
                               hermite.log_abs_hermite(occupation, zeta, levels), rtol=0, atol=1e-13)
    assert mode_basis.rotations({"flow": {}}) is None


def test_rotated_functions_are_orthonormal_and_match_the_direct_sum():
    dimension, levels = 2, 10
    rotation = mode_basis.rotations(_random_params(dimension, levels))
    x = np.linspace(-14.0, 14.0, 6001)
    psi = np.asarray(hermite.hermite_functions(jnp.asarray(x), levels))
    for k in range(dimension):
        chi = np.asarray(rotation[k]) @ psi
        overlap = (chi * (x[1] - x[0])) @ chi.T
        assert np.max(np.abs(overlap - np.eye(levels))) < 1e-10
        occupation = np.zeros((x.size, dimension), dtype=np.int32)
        occupation[:, k] = 4
        got = mode_basis.log_abs(rotation, jnp.asarray(occupation), jnp.asarray(np.stack([x] * dimension, -1)), levels)
        np.testing.assert_allclose(np.exp(np.asarray(got)[:, k]), np.abs(chi[4]), rtol=0, atol=1e-12)


def test_band_limits_the_generator_to_nearby_levels():
    params = {"mixing": mode_basis.init(2, 6, 1)}
    assert params["mixing"]["generator"].shape == (2, 6, 1)
    params["mixing"]["generator"] = params["mixing"]["generator"].at[0, 2, 0].set(0.3)
    rotation = np.asarray(mode_basis.rotations(params))
    expected = np.eye(6)
    expected[2:4, 2:4] = [[np.cos(0.3), np.sin(0.3)], [-np.sin(0.3), np.cos(0.3)]]
    np.testing.assert_allclose(rotation[0], expected, atol=1e-14)
    np.testing.assert_allclose(rotation[1], np.eye(6), atol=1e-14)
    assert mode_basis.init(1, 3, 8)["generator"].shape == (1, 3, 2)  # the band is at most K - 1


def _quartic_eigenbasis(levels):
    """Eigenvalues and eigenvectors of H = p^2/2 + x^2/2 + 0.1 x^4 in the first `levels` Hermite functions."""
    x, w = np.polynomial.hermite.hermgauss(4 * levels)  # exact for the polynomial matrix elements
    psi = np.asarray(hermite.hermite_functions(jnp.asarray(x), levels)) * np.exp(x**2 / 2)
    quartic = (psi * w * 0.1 * x**4) @ psi.T
    hamiltonian_matrix = np.diag(np.arange(levels) + 0.5) + quartic
    energies, vectors = np.linalg.eigh(hamiltonian_matrix)
    vectors *= np.sign(np.diag(vectors))
    for parity in (0, 1):  # a rotation within each parity block, so that a real logarithm exists
        block = vectors[parity::2, parity::2]
        vectors[:, levels - 2 + parity] *= np.sign(np.linalg.det(block))
    return energies, vectors.T  # rows: chi_n = sum_m U_nm psi_m


def _banded(skew):
    """A[n, j - 1] = skew[n, n + j] for the full band j = 1 .. K - 1."""
    levels = skew.shape[0]
    out = np.zeros((levels, levels - 1))
    for j in range(1, levels):
        out[: levels - j, j - 1] = np.diag(skew, j)
    return out


@pytest.mark.slow
def test_level_mixing_reaches_the_exact_quartic_free_energy():
    """The exact 1D quartic F (beta = 1) from walkers, beyond the 0.75 % limit of Eq. 6 alone.

    With U the eigenvectors of H in K = 16 Hermite functions and p_n Boltzmann
    over its eigenvalues, every walker's f = T ln p_n + E_loc is -T ln Z up to
    the basis truncation (which leaves a spread of ~0.004 from the tails of
    the rarely occupied levels), so the sampled F must agree with the exact
    value within three standard errors that are far smaller than the 0.0017
    by which the best point transformation alone stays above it.
    """
    levels, walkers, temperature = 16, 512, 1.0
    energies, rotation = _quartic_eigenbasis(levels)
    skew = scipy.linalg.logm(rotation).real
    params = {
        "flow": flow.init(jax.random.PRNGKey(0), 1, depth=1, hidden=4),
        "occupations": {"logits": jnp.asarray(-energies / temperature)[None, :]},
        "mixing": {"generator": jnp.asarray(_banded(skew))[None]},
    }
    np.testing.assert_allclose(mode_basis.rotations(params)[0], rotation, atol=1e-10)
    surface = surfaces.quartic([1.0], 0.1)
    reference = phonons.Reference(np.zeros((1, 1)), None, np.ones(1))
    modes = phonons.normal_modes(phonons.hessian(surface, reference), reference)
    vibrations = hamiltonian.Vibrations(surface, reference, modes, 0.0)
    key_n, key_z = jax.random.split(jax.random.PRNGKey(1))
    occupation = occupations.sample(params["occupations"], key_n, walkers)
    zeta, acceptance = sampling.metropolis(key_z, sampling.initial_zeta(key_z, occupation), occupation, 1.0, 40, levels,
                                           mode_basis.rotations(params))
    assert 0.3 < acceptance < 0.8
    terms = free_energy.walker_terms(params, vibrations, occupation, zeta, temperature, levels)
    means = free_energy.batch_means(terms)
    # the point transformation alone stays 0.0017 (0.75 %) above; here the error bar is ~2e-4
    assert means["free_energy_error"] < 4e-4
    assert abs(means["free_energy"] - QUARTIC_1D_F_BETA1) < 3 * means["free_energy_error"]
    assert float(jnp.std(terms["free_energy"])) < 0.01


def test_level_mixing_needs_more_than_one_level():
    with pytest.raises(ConfigError, match="level_mixing"):
        nct_config.from_dict({"ansatz": {"levels": 1, "level_mixing": True}})
