"""A proton flow that is one-to-one by construction: X = G(Z), every block the gradient of a convex function.

The backflow of qsolid.dvfe.flow (Z = X + f(X)) is a bijection only while det dZ/dX > 0, and nothing in
it enforces that: trained on hydrogen it folds near the proton cores (docs/validation_dvfe.md). Here the
map runs the other way, from the latent Z to the protons X, as K blocks

    G = G_K o ... o G_1,   G_k(Y) = Y + grad V_k(Y),   V_k(Y) = sum_{I<J} w_k(q_IJ),

with q_IJ = d_IJ^2 the chord distance squared of qsolid.dvfe.features (periodic and smooth) and the
pair function a sum over the widths e_m, s_m (radial_scales times the mean spacing L / N^{1/D}):

    w(q) = sum_m a_m (sqrt(q + e_m^2) - e_m) + sum_m b_m exp(-q / 2 s_m^2).

A cone with a_m > 0 pushes a pair that meets in Z apart in X (the core hole the Boltzmann factor of a
Coulomb core wants); a_m < 0 and the Gaussians shape the pair correlation at either sign.

**Why it cannot fold.** With s the fractional pair displacement, S_mu = sin^2(pi s_mu), M = max_mu S_mu,
g_mu = (L / 2 pi) sin(2 pi s_mu) and C = diag cos(2 pi s_mu): grad_x q = 2 g, Hess_x q = 2 C and
|g|^2 <= q. So the 3 x 3 Hessian of one pair term is h = 2 w'(q) C + 4 w''(q) g g^T, and

* cone, a > 0: h = a (q + e^2)^{-1/2} [C - g g^T / (q + e^2)]; the bracket is >= sum S^2 / sum S - 2M
  >= -(2 - 1/D) M and sqrt(q) >= (L/pi) sqrt(M), so h >= -(2 - 1/D) (pi / L) a;
* cone, a < 0: h >= -|a| / e (the bracket is <= 1);
* Gaussian: |h| <= (|b| / s^2) e^{-t/2} (1 + t) <= (2 / sqrt(e)) |b| / s^2   (t = q / s^2).

With c the sum of these bounds, every pair block is h_IJ >= -c, and for any displacement u of the ND
coordinates  u^T Hess V u = sum_{I<J} (u_I - u_J)^T h_IJ (u_I - u_J) >= -c sum_{I<J} |u_I - u_J|^2
>= -c N |u|^2. The raw amplitudes are scaled down, where needed, so that c N <= 1 - MARGIN. Then
|Y|^2/2 + V_k(Y) is strongly convex on R^{ND} (Hessian >= MARGIN), its gradient G_k is a bijection of
R^{ND}, and since grad V_k is periodic in every particle (G_k(Y + nL) = G_k(Y) + nL) it is a bijection of
the torus with det dG_k/dY >= MARGIN^{ND} > 0 everywhere, whatever the parameters: no fold, no failed
inversion. Pair sums of periodic functions of X_I - X_J make G periodic, translation and permutation
equivariant as the backflow is. The parameters start at zero: the flow is the identity at initialisation.

**Density.** p(X) = p_base(Z) / det dG/dZ, Z = G^{-1}(X); ln det dG/dZ = sum_k ln det(1 + Hess V_k).
Sampling is explicit (X = G(Z)). The score-function gradient needs ln p at fixed X as a function of the
parameters, i.e. Z(X) by the implicit function theorem: each block is inverted by Newton's method
(from the sampled path when it is known, which makes it exact after one step) and the inverse enters
the autodiff graph as one linearised Newton step Y* - (1 + Hess V(Y*))^{-1} (G(Y*) - T), whose value is
Y* and whose derivatives are those of G^{-1}.

Functions are written for one configuration, positions of shape (N, D).
"""

import jax
import jax.numpy as jnp

MARGIN = 0.25
"""Lower bound of the eigenvalues of dG_k/dY (the convexity modulus of each block)."""
NEWTON_ITERATIONS = 40
"""Newton iterations of a block's inverse without a known preimage (quench, quadrature)."""
NEWTON_STEP_CAP = 0.2
"""Largest coordinate change of one such iteration, in mean spacings (a damped Newton method)."""


def init(shape) -> dict:
    """Zero amplitudes (the identity map): per block the cone and Gaussian amplitudes, one per width."""
    zeros = jnp.zeros(len(shape.radial_scales))
    return {"blocks": [{"cone": zeros, "gaussian": zeros} for _ in range(shape.layers)]}


def _spacing(n_particles, dimension, box_length):
    return box_length / n_particles ** (1.0 / dimension)


def curvature_bound(cone, gaussian, widths, dimension, box_length):
    """c of the module docstring (dimensionless): every pair block of Hess V_k is >= -c, for cone
    amplitudes a_m (bohr) and Gaussian amplitudes b_m (bohr^2)."""
    convex_part = (2.0 - 1.0 / dimension) * jnp.pi / box_length * jnp.sum(jnp.maximum(cone, 0.0))
    concave_part = jnp.sum(jnp.maximum(-cone, 0.0) / widths)
    return convex_part + concave_part + 2.0 / jnp.sqrt(jnp.e) * jnp.sum(jnp.abs(gaussian) / widths**2)


def amplitudes(block, widths, n_particles, dimension, box_length):
    """(a_m, b_m) scaled so that c N <= 1 - MARGIN; the raw parameters are in mean spacings (a) and their squares (b)."""
    spacing = _spacing(n_particles, dimension, box_length)
    cone, gaussian = spacing * block["cone"], spacing**2 * block["gaussian"]
    bound = n_particles * curvature_bound(cone, gaussian, widths, dimension, box_length)
    scale = 1.0 / jnp.maximum(1.0, bound / (1.0 - MARGIN))
    return scale * cone, scale * gaussian


def _pair_geometry(positions, box_length):
    """(q, g, C diagonal, mask) of every ordered pair: shapes (N, N), (N, N, D), (N, N, D), (N, N)."""
    n_particles = positions.shape[0]
    phase = jnp.pi * (positions[:, None, :] - positions[None, :, :]) / box_length
    q = (box_length / jnp.pi) ** 2 * jnp.sum(jnp.sin(phase) ** 2, axis=-1)
    g = box_length / (2.0 * jnp.pi) * jnp.sin(2.0 * phase)
    mask = 1.0 - jnp.eye(n_particles, dtype=positions.dtype)
    return q, g, jnp.cos(2.0 * phase), mask


def _pair_derivatives(q, cone, gaussian, widths):
    """w'(q) and w''(q) of the pair function, elementwise over q."""
    q = q[..., None]
    root = jnp.sqrt(q + widths**2)
    bump = jnp.exp(-q / (2.0 * widths**2))
    first = jnp.sum(cone / (2.0 * root) - gaussian / (2.0 * widths**2) * bump, axis=-1)
    second = jnp.sum(-cone / (4.0 * root**3) + gaussian / (4.0 * widths**4) * bump, axis=-1)
    return first, second


def _block_terms(block, widths, positions, box_length):
    """(grad V, Hess V as (ND, ND)) of one block at positions (N, D)."""
    n_particles, dimension = positions.shape
    cone, gaussian = amplitudes(block, widths, n_particles, dimension, box_length)
    q, g, cosines, mask = _pair_geometry(positions, box_length)
    first, second = _pair_derivatives(q, cone, gaussian, widths)
    first, second = first * mask, second * mask
    gradient = jnp.einsum("ij,ijd->id", 2.0 * first, g)
    pair = (2.0 * first[..., None, None] * (cosines[..., :, None] * jnp.eye(dimension, dtype=positions.dtype))
            + 4.0 * second[..., None, None] * g[..., :, None] * g[..., None, :])
    # block (I, I) = sum_J h_IJ, block (I, J) = -h_IJ (h_II = 0 by the mask)
    blocks = jnp.eye(n_particles, dtype=positions.dtype)[:, :, None, None] * pair.sum(axis=1)[:, None] - pair
    hessian = blocks.transpose(0, 2, 1, 3).reshape(n_particles * dimension, n_particles * dimension)
    return gradient, hessian


def _widths(shape, n_particles, dimension, box_length, dtype):
    return jnp.asarray(shape.radial_scales, dtype) * _spacing(n_particles, dimension, box_length)


def generate(params, shape, z, box_length):
    """X = G(Z) (not wrapped) and ln det dG/dZ = sum_k ln det(1 + Hess V_k), with the path (Y_0 = Z, ..., Y_K = X)."""
    n_particles, dimension = z.shape
    widths = _widths(shape, n_particles, dimension, box_length, z.dtype)
    identity = jnp.eye(z.size, dtype=z.dtype)
    y, log_det, path = z, jnp.zeros((), z.dtype), [z]
    for block in params["blocks"]:
        gradient, hessian = _block_terms(block, widths, y, box_length)
        log_det = log_det + jnp.linalg.slogdet(identity + hessian)[1]
        y = y + gradient
        path.append(y)
    return y, log_det, path


def _wrapped(displacement, box_length):
    return displacement - box_length * jnp.round(displacement / box_length)


def _solve_block(block, widths, target, guess, box_length, iterations, cap):
    """Y with Y + grad V(Y) = target (mod L) by damped Newton from guess (no derivatives flow through it)."""
    identity = jnp.eye(target.size, dtype=target.dtype)

    def newton(_, y):
        gradient, hessian = _block_terms(block, widths, y, box_length)
        residual = _wrapped(y + gradient - target, box_length)
        step = jnp.linalg.solve(identity + hessian, residual.ravel()).reshape(y.shape)
        return y - step * jnp.minimum(1.0, cap / jnp.maximum(jnp.max(jnp.abs(step)), 1e-300))

    return jax.lax.stop_gradient(jax.lax.fori_loop(0, iterations, newton, jax.lax.stop_gradient(guess)))


def latent(params, shape, x, box_length, latent_guess=None):
    """(Z = G^{-1}(X), ln det dZ/dX, largest residual in bohr), differentiable in the parameters and in X.

    latent_guess: the Z that X was drawn from (then each block's preimage is known and one Newton step
    confirms it); None: damped Newton from X itself, NEWTON_ITERATIONS per block."""
    n_particles, dimension = x.shape
    widths = _widths(shape, n_particles, dimension, box_length, x.dtype)
    identity = jnp.eye(x.size, dtype=x.dtype)
    blocks = params["blocks"]
    if latent_guess is None:
        guesses, iterations = [None] * len(blocks), NEWTON_ITERATIONS
    else:
        guesses, iterations = generate(jax.lax.stop_gradient(params), shape, latent_guess, box_length)[2][:-1], 1
    cap = NEWTON_STEP_CAP * _spacing(n_particles, dimension, box_length)
    target, log_det, residual = x, jnp.zeros((), x.dtype), jnp.zeros((), x.dtype)
    for block, guess in zip(reversed(blocks), reversed(guesses)):
        start = target if guess is None else guess
        y_star = _solve_block(block, widths, target, start, box_length, iterations, cap)
        gradient, hessian = _block_terms(block, widths, y_star, box_length)
        mismatch = _wrapped(y_star + gradient - target, box_length)
        residual = jnp.maximum(residual, jax.lax.stop_gradient(jnp.max(jnp.abs(mismatch))))
        # one linearised Newton step: value y_star (to the residual), derivatives of the exact inverse
        jacobian = jax.lax.stop_gradient(identity + hessian)
        y = y_star - jnp.linalg.solve(jacobian, mismatch.ravel()).reshape(x.shape)
        log_det = log_det - jnp.linalg.slogdet(identity + _block_terms(block, widths, y, box_length)[1])[1]
        target = y
    return target, log_det, residual
