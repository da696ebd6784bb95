"""The monotone proton flow: one-to-one whatever its parameters, exact density, symmetries, inverse."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.dvfe import flow, monotone_flow

SCALES = (0.3, 0.6, 1.2)
SHAPE = flow.FlowShape(kind="monotone", layers=3, radial_scales=SCALES)
BOX = 4.2
generate = jax.jit(monotone_flow.generate, static_argnums=1)
latent = jax.jit(monotone_flow.latent, static_argnums=1)


def random_params(key, shape, size):
    """Amplitudes of order `size` mean spacings: far beyond the convexity bound for size >> 0.1."""
    keys = jax.random.split(key, 2 * shape.layers)
    n = len(shape.radial_scales)
    return {"blocks": [{"cone": size * jax.random.normal(keys[2 * k], (n,)),
                        "gaussian": size * jax.random.normal(keys[2 * k + 1], (n,))} for k in range(shape.layers)]}


def widths(n_particles, dimension=3, box=BOX):
    return jnp.asarray(SCALES) * box / n_particles ** (1.0 / dimension)


@pytest.fixture
def setup(float64):
    key = jax.random.PRNGKey(0)
    params = random_params(key, SHAPE, 3.0)
    z = BOX * jax.random.uniform(jax.random.fold_in(key, 1), (6, 3))
    return params, z


def minimum_eigenvalue(block, positions):
    n_particles, dimension = positions.shape
    _, hessian = monotone_flow._block_terms(block, widths(n_particles, dimension), positions, BOX)
    return np.linalg.eigvalsh(np.eye(positions.size) + np.asarray(hessian)).min()


def test_identity_at_initialisation(float64):
    params = flow.init(jax.random.PRNGKey(0), SHAPE)
    z = BOX * jax.random.uniform(jax.random.PRNGKey(1), (4, 3))
    x, log_det, _ = generate(params, SHAPE, z, BOX)
    np.testing.assert_array_equal(x, z)
    assert log_det == 0.0


@pytest.mark.slow  # 9 s idle
def test_block_gradient_and_hessian_against_autodiff(setup):
    """The analytic grad V and Hess V of a block against jax.grad / jax.hessian of V = sum_{I<J} w(q_IJ)."""
    params, z = setup
    block, w = params["blocks"][0], widths(6)

    def potential(y):
        cone, gaussian = monotone_flow.amplitudes(block, w, 6, 3, BOX)
        q, _, _, mask = monotone_flow._pair_geometry(y, BOX)
        pair = jnp.sum(cone * (jnp.sqrt(q[..., None] + w**2) - w) + gaussian * jnp.exp(-q[..., None] / (2 * w**2)), -1)
        return 0.5 * jnp.sum(pair * mask)

    gradient, hessian = monotone_flow._block_terms(block, w, z, BOX)
    np.testing.assert_allclose(gradient, jax.grad(potential)(z), rtol=0, atol=1e-12)
    np.testing.assert_allclose(hessian, jax.hessian(potential)(z).reshape(18, 18), rtol=0, atol=1e-12)
    assert float(jnp.max(jnp.abs(gradient))) > 1e-2  # a non-trivial block


@pytest.mark.parametrize("size", [0.3, 3.0, 30.0])
def test_one_to_one_whatever_the_parameters(float64, size):
    """Every block's dG/dY >= MARGIN at uniform configurations, at tight clusters and at coincident pairs,
    for amplitudes up to several hundred times the bound; the bound is approached (it is not vacuous)."""
    key = jax.random.PRNGKey(int(size * 10))
    params = random_params(key, SHAPE, size)
    lowest = []
    for k in range(40):
        uniform = BOX * jax.random.uniform(jax.random.fold_in(key, k), (6, 3))
        cluster = 0.4 * jax.random.uniform(jax.random.fold_in(key, 100 + k), (6, 3)) + uniform[:1]
        coincident = uniform.at[1].set(uniform[0] + 1e-9)
        for positions in (uniform, cluster, coincident):
            lowest += [minimum_eigenvalue(block, positions) for block in params["blocks"]]
    assert min(lowest) >= monotone_flow.MARGIN - 1e-12
    if size >= 3.0:
        assert min(lowest) < 0.9  # the scaling lets the map come near its bound


def test_pair_curvature_bound(float64):
    """Each pair term's 3x3 Hessian h(s) >= -c over random displacements s, c of curvature_bound,
    and the cone's bound is within a factor 2 of the worst case met."""
    key = jax.random.PRNGKey(4)
    s = jax.random.uniform(key, (20000, 3)) - 0.5
    w = widths(8)
    for cone, gaussian in (([0.2, 0.0, 0.0], [0.0] * 3), ([0.0, -0.1, 0.0], [0.0] * 3), ([0.0] * 3, [0.0, 0.0, 0.05]),
                           ([0.1, -0.05, 0.2], [0.03, -0.02, 0.01])):
        cone, gaussian = jnp.asarray(cone), jnp.asarray(gaussian)
        bound = monotone_flow.curvature_bound(cone, gaussian, w, 3, BOX)
        phase = jnp.pi * s
        q = (BOX / jnp.pi) ** 2 * jnp.sum(jnp.sin(phase) ** 2, -1)
        g = BOX / (2 * jnp.pi) * jnp.sin(2 * phase)
        first, second = monotone_flow._pair_derivatives(q, cone, gaussian, w)
        h = (2 * first[:, None, None] * jax.vmap(jnp.diag)(jnp.cos(2 * phase))
             + 4 * second[:, None, None] * g[:, :, None] * g[:, None, :])
        lowest = float(np.linalg.eigvalsh(np.asarray(h)).min())
        assert lowest >= -float(bound) - 1e-12
        if float(jnp.sum(jnp.abs(gaussian))) == 0 and float(cone[0]) > 0:
            assert lowest < -0.5 * float(bound)


def test_symmetries(setup):
    """G(Z + nL e_I) = G(Z) + nL e_I, G(Z + a) = G(Z) + a, G(PZ) = P G(Z), to 1e-10."""
    params, z = setup
    x = generate(params, SHAPE, z, BOX)[0]
    shift = jnp.array([1.0, -2.0, 3.0]) * BOX
    np.testing.assert_allclose(generate(params, SHAPE, z.at[2].add(shift), BOX)[0], x.at[2].add(shift), rtol=0, atol=1e-10)
    a = jnp.array([0.3, -1.1, 2.0])
    np.testing.assert_allclose(generate(params, SHAPE, z + a, BOX)[0], x + a, rtol=0, atol=1e-10)
    permutation = jnp.array([3, 1, 0, 5, 4, 2])
    np.testing.assert_allclose(generate(params, SHAPE, z[permutation], BOX)[0], x[permutation], rtol=0, atol=1e-10)
    assert float(jnp.max(jnp.abs(x - z))) > 1e-2


def test_log_determinant_against_jacfwd(setup):
    params, z = setup
    x, log_det, _ = generate(params, SHAPE, z, BOX)
    full = jax.jacfwd(lambda y: monotone_flow.generate(params, SHAPE, y, BOX)[0])(z).reshape(18, 18)
    sign, expected = np.linalg.slogdet(np.asarray(full))
    assert sign == 1.0 and abs(expected) > 1e-3
    np.testing.assert_allclose(log_det, expected, rtol=0, atol=1e-10)


@pytest.mark.slow  # 11 s (guided) and 31 s (unguided) under load: the quick lane stays under 5 minutes
@pytest.mark.parametrize("guided", [False, True])
def test_inverse_and_its_derivatives(setup, guided):
    """Z(X) by Newton (from X, or from the sampled Z), ln det dZ/dX = -ln det dG/dZ, dZ/dX = (dG/dZ)^-1,
    and the parameter gradient of ln p at fixed X against central finite differences of the unguided inverse."""
    params, z = setup
    x, log_det, _ = generate(params, SHAPE, z, BOX)
    x = flow.wrap(x, BOX)
    guess = z if guided else None
    recovered, inverse_log_det, residual = latent(params, SHAPE, x, BOX, guess)
    difference = recovered - z
    np.testing.assert_allclose(difference - BOX * jnp.round(difference / BOX), 0.0, rtol=0, atol=1e-10)
    assert residual < 1e-10
    np.testing.assert_allclose(inverse_log_det, -log_det, rtol=0, atol=1e-10)
    forward_jacobian = jax.jacfwd(lambda y: monotone_flow.generate(params, SHAPE, y, BOX)[0])(z).reshape(18, 18)
    inverse_jacobian = jax.jacfwd(lambda y: monotone_flow.latent(params, SHAPE, y, BOX, guess)[0])(x).reshape(18, 18)
    np.testing.assert_allclose(inverse_jacobian @ forward_jacobian, np.eye(18), rtol=0, atol=1e-10)

    def log_p(p, start):  # a base weight plus the log-Jacobian, as qsolid.dvfe.base.log_density
        zz, ld, _ = monotone_flow.latent(p, SHAPE, x, BOX, start)
        return ld - 0.3 * jnp.sum(jnp.cos(2 * jnp.pi * zz / BOX))

    gradient = jax.grad(log_p)(params, guess)
    direction = random_params(jax.random.PRNGKey(9), SHAPE, 1.0)
    shifted = lambda t: jax.tree.map(lambda a, b: a + t * b, params, direction)
    finite_difference = (log_p(shifted(1e-6), None) - log_p(shifted(-1e-6), None)) / 2e-6
    analytic = sum(float(jnp.sum(a * b)) for a, b in zip(jax.tree.leaves(gradient), jax.tree.leaves(direction)))
    np.testing.assert_allclose(analytic, finite_difference, rtol=1e-6)
    assert abs(analytic) > 1e-3


@pytest.mark.parametrize("dimension,grid,tolerance", [(1, 256, 1e-12), (3, 24, 1e-6)])
def test_two_particle_normalisation_by_quadrature(float64, dimension, grid, tolerance):
    """int p dX = 1 for two particles with amplitudes beyond the bound (p = Omega^-2 / det dG/dZ at Z(X))."""
    shape = flow.FlowShape(kind="monotone", layers=2, radial_scales=SCALES)
    params = random_params(jax.random.PRNGKey(5), shape, 3.0)
    box = 3.0
    axis = (jnp.arange(grid) + 0.5) / grid * box
    mesh = jnp.stack(jnp.meshgrid(*([axis] * dimension), indexing="ij"), axis=-1).reshape(-1, dimension)
    pairs = jnp.stack([mesh, jnp.zeros_like(mesh)], axis=1)
    signs, log_det = jax.jit(jax.vmap(lambda x: flow.log_jacobian(params, shape, x, box)))(pairs)
    assert bool(jnp.all(signs > 0))
    np.testing.assert_allclose(float(jnp.mean(jnp.exp(log_det))), 1.0, rtol=0, atol=tolerance)
    assert float(jnp.max(log_det) - jnp.min(log_det)) > 0.3  # far from uniform: the check is not met trivially
