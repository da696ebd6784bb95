import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.nct import flow

# The NCT functions compute in the caller's precision; these checks are made in float64 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("float64")


def _random_params(dimension):
    params = flow.init(jax.random.PRNGKey(0), dimension, depth=2, hidden=8)
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    return jax.tree_util.tree_unflatten(tree, [x + 0.3 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


def test_identity_at_initialisation():
    params = flow.init(jax.random.PRNGKey(0), 5, depth=2, hidden=8)
    z = jnp.linspace(-2.0, 2.0, 5)
    zeta, log_det = flow.forward(params, z)
    np.testing.assert_allclose(zeta, z, atol=1e-15)
    assert abs(log_det) < 1e-15


@pytest.mark.slow
def test_inverse_and_log_determinant():
    for dimension in (1, 4):
        params = _random_params(dimension)
        z = jnp.linspace(-1.5, 2.0, dimension)
        zeta, log_det = flow.forward(params, z)
        np.testing.assert_allclose(flow.inverse(params, zeta), z, atol=1e-10)
        jacobian = jax.jacfwd(lambda x: flow.forward(params, x)[0])(z)
        assert abs(np.linalg.slogdet(np.asarray(jacobian))[1] - log_det) < 1e-10
