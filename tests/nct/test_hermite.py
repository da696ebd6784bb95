import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import eval_hermite, gammaln

from qsolid.nct import hermite

# The NCT functions compute in the caller's precision; these checks are made in float64 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("float64")


def test_orthonormal_to_high_order():
    x = jnp.linspace(-32.0, 32.0, 16001)
    psi = hermite.hermite_functions(x, 200)
    overlap = (psi * (x[1] - x[0])) @ psi.T
    assert np.max(np.abs(overlap - np.eye(200))) < 1e-10


def test_log_values_match_closed_form_and_stay_finite():
    n = np.array([0, 1, 7, 30])
    x = np.array([0.3, -1.2, 2.5, -4.0])
    log_norm = -0.5 * (n * np.log(2.0) + gammaln(n + 1) + 0.5 * np.log(np.pi))
    exact = np.log(np.abs(eval_hermite(n, x))) - 0.5 * x**2 + log_norm
    got = hermite.log_abs_hermite(jnp.asarray(n), jnp.asarray(x), 40)
    np.testing.assert_allclose(got, exact, rtol=1e-12, atol=1e-12)
    far = hermite.log_abs_hermite(jnp.array([450]), jnp.array([60.0]), 500)
    assert np.isfinite(far).all()
