"""The nuclear wavefunction ln chi(R) (Alg. 1, Eq. 3): initial value, symmetries, derivatives."""


import folx
import jax
import jax.numpy as jnp
import numpy as np

from qsolid.vmc import features
from qsolid.vmc.ansatz import nuclei

LATTICE = np.array([[3.0, 0.0, 0.0], [0.5, 3.2, 0.0], [0.3, 0.4, 3.6]])
N_NUCLEI = 4


def _setup(n_nuclei=N_NUCLEI, perturb=False):
    """(spec, params, reference structure, jitted ln chi(params, nuclei))."""
    spec = nuclei.make_spec(n_nuclei, LATTICE, width=6, layers=2)
    reference = jnp.asarray(np.random.default_rng(0).uniform(size=(n_nuclei, 3)))
    params = nuclei.init(jax.random.PRNGKey(1), spec, reference)
    if perturb:
        leaves, treedef = jax.tree.flatten(params)
        keys = jax.random.split(jax.random.PRNGKey(2), len(leaves))
        leaves = [x + 0.3 * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
        params = jax.tree.unflatten(treedef, leaves)
        assert abs(params["alpha"]) > 1e-3
    return spec, params, reference, jax.jit(lambda p, x: nuclei.apply(p, spec, x))


def _displaced(reference, seed=3, scale=0.05):
    return reference + scale * jnp.asarray(np.random.default_rng(seed).normal(size=reference.shape))


def test_initial_value_is_the_gaussian_in_periodic_distances(float64):
    spec, params, reference, log_chi = _setup()
    configuration = _displaced(reference)
    # All ordered pairs at once (diagonal included), then the sum over I < J by hand.
    d_reference = np.asarray(features.pair_features(reference[:, None] - reference[None], jnp.asarray(LATTICE))[1])
    d = np.asarray(features.pair_features(configuration[:, None] - configuration[None], jnp.asarray(LATTICE))[1])
    sigma = 1.0 / (2.0 * 0.15)
    expected = -sum(
        sigma**2 * (d[i, j] - d_reference[i, j]) ** 2 for i in range(N_NUCLEI) for j in range(i + 1, N_NUCLEI)
    )
    np.testing.assert_allclose(log_chi(params, configuration), expected, rtol=1e-12)
    assert log_chi(params, reference) == 0.0
    moved = reference.at[1].add(jnp.array([0.02, -0.01, 0.03]))
    assert log_chi(params, moved) < -1e-4


def test_translation_invariant_and_periodic(float64):
    spec, params, reference, log_chi = _setup(perturb=True)
    configuration = _displaced(reference)
    value = log_chi(params, configuration)
    shift = jnp.asarray(np.random.default_rng(4).uniform(-1, 1, size=3))
    np.testing.assert_allclose(log_chi(params, configuration + shift), value, rtol=1e-12)
    for nucleus in range(N_NUCLEI):
        moved = configuration.at[nucleus].add(jnp.array([1.0, -2.0, 1.0]))
        np.testing.assert_allclose(log_chi(params, moved), value, rtol=1e-12)


def test_permutation_invariant_with_consistently_permuted_pair_parameters(float64):
    spec, params, reference, log_chi = _setup(perturb=True)
    configuration = _displaced(reference)
    permutation = np.array([2, 0, 3, 1])
    first, second = spec.pairs

    def relabelled(pair_values):
        matrix = np.zeros((N_NUCLEI, N_NUCLEI))
        matrix[first, second] = matrix[second, first] = pair_values
        return jnp.asarray(matrix[permutation][:, permutation][first, second])

    permuted = {**params, "b": relabelled(params["b"]), "sigma": relabelled(params["sigma"])}
    value = log_chi(params, configuration)
    np.testing.assert_allclose(log_chi(permuted, configuration[permutation]), value, rtol=1e-12)
    assert not np.isclose(log_chi(params, configuration[permutation]), value)


def test_gradient_and_forward_laplacian_match_the_hessian(float64):
    spec, params, reference, _ = _setup(perturb=True)
    flat = _displaced(reference).ravel()

    def log_chi(x):
        return nuclei.apply(params, spec, x.reshape(N_NUCLEI, 3))

    @jax.jit
    def derivatives(x):
        forward = folx.forward_laplacian(log_chi, sparsity_threshold=0)(x)
        hessian_trace = jnp.trace(jax.hessian(log_chi)(x))
        return jax.grad(log_chi)(x), forward.jacobian.dense_array.ravel(), forward.laplacian, hessian_trace

    gradient, folx_gradient, laplacian, hessian_trace = derivatives(flat)
    assert np.all(np.isfinite(gradient)) and np.isfinite(laplacian) and abs(laplacian) > 1.0
    np.testing.assert_allclose(folx_gradient, gradient, rtol=1e-10)
    np.testing.assert_allclose(laplacian, hessian_trace, rtol=1e-8)


def test_single_nucleus_is_constant(float64):
    spec, params, reference, _ = _setup(n_nuclei=1, perturb=True)
    assert params["b"].shape == (0,) and params["sigma"].shape == (0,)
    assert nuclei.apply(params, spec, reference) == 0.0
    np.testing.assert_array_equal(jax.grad(nuclei.apply, argnums=2)(params, spec, reference), 0.0)
    assert all(np.all(g == 0) for g in jax.tree.leaves(jax.grad(nuclei.apply)(params, spec, reference)))
