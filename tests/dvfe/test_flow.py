"""The proton flow: symmetries, exact log-determinant, normalisation by quadrature, identity at init."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.dvfe import flow

SHAPE = flow.FlowShape(layers=2, single_width=8, pair_width=6, harmonics=2, radial_scales=(0.5, 1.0, 2.0))
forward = jax.jit(flow.forward, static_argnums=1)
log_jacobian = jax.jit(flow.log_jacobian, static_argnums=1)


def perturbed(key, shape, dimension, output_scale):
    """Flow parameters with a non-zero output layer (a non-trivial map)."""
    params = flow.init(key, shape, dimension)
    out = jax.random.normal(jax.random.fold_in(key, 1), params["out"].shape)
    return dict(params, out=output_scale * out)


@pytest.fixture
def setup(float64):
    key = jax.random.PRNGKey(3)
    box = 4.7
    params = perturbed(key, SHAPE, 3, 0.08)
    positions = box * jax.random.uniform(jax.random.fold_in(key, 2), (5, 3))
    return params, positions, box


def test_identity_at_initialisation(float64):
    params = flow.init(jax.random.PRNGKey(0), SHAPE)
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, 3)) * 3.0
    np.testing.assert_array_equal(forward(params, SHAPE, x, 3.0), x)
    sign, log_det = log_jacobian(params, SHAPE, x, 3.0)
    assert sign == 1.0 and log_det == 0.0


def test_periodicity_of_each_particle(setup):
    params, x, box = setup
    z = forward(params, SHAPE, x, box)
    shift = jnp.zeros_like(x).at[2].set(box * jnp.array([1.0, -2.0, 3.0]))
    np.testing.assert_allclose(forward(params, SHAPE, x + shift, box), z + shift, rtol=0, atol=1e-10)
    assert float(jnp.max(jnp.abs(z - x))) > 1e-2  # the map is not trivially the identity


def test_translation_equivariance(setup):
    params, x, box = setup
    a = jnp.array([0.37, -1.91, 2.6])
    np.testing.assert_allclose(forward(params, SHAPE, x + a, box), forward(params, SHAPE, x, box) + a,
                               rtol=0, atol=1e-10)


def test_permutation_equivariance(setup):
    params, x, box = setup
    order = jnp.array([3, 0, 4, 1, 2])
    np.testing.assert_allclose(forward(params, SHAPE, x[order], box), forward(params, SHAPE, x, box)[order],
                               rtol=0, atol=1e-10)


def test_log_determinant_against_jacfwd(setup):
    params, x, box = setup
    full = jax.jacfwd(lambda y: forward(params, SHAPE, y, box))(x).reshape(x.size, x.size)
    sign, log_det = log_jacobian(params, SHAPE, x, box)
    assert sign == 1.0
    np.testing.assert_allclose(log_det, math.log(abs(np.linalg.det(np.asarray(full)))), rtol=0, atol=1e-10)
    assert abs(float(log_det)) > 1e-3


def test_inverse(setup):
    params, x, box = setup
    z = forward(params, SHAPE, x, box)
    recovered, residual = flow.inverse(params, SHAPE, z, box, flow.Inversion(fixed_point_iterations=30, newton_steps=3))
    assert residual < 1e-12
    np.testing.assert_allclose(recovered, flow.wrap(x, box), rtol=0, atol=1e-10)


def _normalisation(params, shape, box, dimension, grid):
    """int p dX over the torus for two particles: by translation invariance Omega * int p((r, 0)) dr."""
    axis = (jnp.arange(grid) + 0.5) / grid * box
    mesh = jnp.stack(jnp.meshgrid(*([axis] * dimension), indexing="ij"), axis=-1).reshape(-1, dimension)
    pairs = jnp.stack([mesh, jnp.zeros_like(mesh)], axis=1)
    signs, log_det = jax.jit(jax.vmap(lambda x: flow.log_jacobian(params, shape, x, box)))(pairs)
    assert bool(jnp.all(signs > 0))
    return float(jnp.mean(jnp.exp(log_det))), float(jnp.max(log_det) - jnp.min(log_det))


@pytest.mark.parametrize("dimension,scale,grid,tolerance", [(1, 0.03, 256, 1e-12), (3, 0.02, 24, 1e-6)])
def test_two_particle_normalisation_by_quadrature(float64, dimension, scale, grid, tolerance):
    """Midpoint rule on a grid^D mesh of the relative coordinate (spectrally accurate: p is smooth and periodic)."""
    shape = flow.FlowShape(layers=1, single_width=8, pair_width=4, harmonics=2, radial_scales=(0.5, 1.0))
    params = perturbed(jax.random.PRNGKey(5), shape, dimension, scale)
    total, log_density_range = _normalisation(params, shape, 3.0, dimension, grid)
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=tolerance)
    assert log_density_range > 0.5  # p is far from uniform: the check is not met trivially


def test_quadrature_detects_a_folded_map(float64):
    """A flow pushed past invertibility (det < 0 somewhere) no longer integrates to one."""
    shape = flow.FlowShape(layers=1, single_width=8, pair_width=4, harmonics=2, radial_scales=(0.5, 1.0))
    params = perturbed(jax.random.PRNGKey(5), shape, 1, 0.15)
    axis = (jnp.arange(256) + 0.5) / 256 * 3.0
    pairs = jnp.stack([axis[:, None], jnp.zeros((256, 1))], axis=1)
    sign, log_det = jax.jit(jax.vmap(lambda x: flow.log_jacobian(params, shape, x, 3.0)))(pairs)
    assert bool(jnp.any(sign < 0))
    assert abs(float(jnp.mean(jnp.exp(log_det))) - 1.0) > 0.1


@pytest.mark.parametrize("dimension", [1, 3])
def test_one_particle_is_a_rigid_shift(float64, dimension):
    """Translation equivariance leaves one particle only a constant shift: p = 1/Omega, int p = 1 exactly."""
    params = perturbed(jax.random.PRNGKey(7), SHAPE, dimension, 0.5)
    box = 2.5
    x = box * jax.random.uniform(jax.random.PRNGKey(8), (16, 1, dimension))
    log_p = jax.vmap(lambda xi: flow.log_density(params, SHAPE, xi, box))(x)
    np.testing.assert_allclose(np.exp(log_p) * box**dimension, 1.0, rtol=0, atol=1e-12)
