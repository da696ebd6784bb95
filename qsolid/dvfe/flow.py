"""The proton flow Z = X + f(X) on the torus (seed 001, Eq. 3 and Appendix A 2, Alg. 1).

f is a permutation-equivariant message-passing network on the periodic pair
features f_IJ of :mod:`qsolid.dvfe.features` (Alg. 1):

    h_I^0 = linear(mean_{J != I} f_IJ),   h_IJ^0 = linear(f_IJ)
    g_I   = concat(h_I, mean_K h_K, mean_{J != I} h_IJ * P h_J)
    h_I  <- (h_I + tanh(W g_I + b)) / sqrt 2,   h_IJ <- (h_IJ + tanh(W' h_IJ + b')) / sqrt 2
    f_I   = l * W_out h_I            (l = L / N^{1/D}, the mean spacing)

Because the features depend only on exp(2 pi i (x_I - x_J)/L) and every sum
runs over particles, Z(X + nL) = Z(X) + nL for a lattice shift of any one
particle, Z(X + a) = Z(X) + a for a common shift and Z(PX) = P Z(X).

Density (Eq. 3 with a uniform base): p(X) = Omega^{-N} |det dZ/dX|. The
log-determinant is exact: the (ND x ND) Jacobian by jax.jacfwd (ND forward
passes, each O(N^2) pair work) and slogdet (O((ND)^3)); for N = 64 protons
that is 192 passes and a 192 x 192 factorisation per configuration.

Invertibility. W_out starts at zero, so the flow is the identity at
initialisation. On a compact torus the map X -> X + f(X) has degree one (it
is homotopic to the identity through X + t f(X)), so if det dZ/dX > 0
everywhere it is a bijection: a local diffeomorphism of degree one has exactly
one preimage of every point. The driver therefore checks the sign of the
determinant of every sampled configuration and rejects an update that met a
non-positive one; the quadrature tests check the normalisation (which fails
for a non-injective map) of trained and randomly perturbed flows.

Sampling inverts the flow: Z uniform on the torus, X solves X + f(X) = Z
(mod L) by fixed-point iterations X <- Z - f(X) (a contraction while
|df/dX| < 1) polished by Newton steps with the exact Jacobian.

A second kind, 'monotone' (qsolid.dvfe.monotone_flow), runs the other way, X = G(Z) with every block
the gradient of a strongly convex function: one-to-one by construction, sampled without inversion. The
functions below take either kind (FlowShape.kind); `latent_guess`, the Z a configuration was drawn
from, spares the monotone flow its Newton solve and is ignored by the backflow.

Functions are written for one configuration, positions of shape (N, D).
"""

import dataclasses

import jax
import jax.numpy as jnp

from qsolid.dvfe import features, monotone_flow
from qsolid import dense


@dataclasses.dataclass(frozen=True)
class FlowShape:
    """Hyperparameters of the flow: kind 'backflow' (Z = X + f(X)), 'monotone' (X = G(Z),
    qsolid.dvfe.monotone_flow: `layers` blocks, one cone and one Gaussian per radial scale) or
    'identity' (Z = X)."""

    kind: str = "backflow"
    layers: int = 2
    single_width: int = 16
    pair_width: int = 8
    harmonics: int = 2
    radial_scales: tuple = (0.5, 1.0, 2.0)

    @property
    def identity(self) -> bool:
        return self.kind == "identity"

    @property
    def monotone(self) -> bool:
        return self.kind == "monotone"


def init(key, shape: FlowShape, dimension: int = 3) -> dict:
    """Parameters of the flow; the output layer is zero, so the flow starts as the identity."""
    if shape.identity:
        return {}
    if shape.monotone:
        return monotone_flow.init(shape)
    n_features = features.feature_count(dimension, shape.harmonics, shape.radial_scales)
    d1, d2 = shape.single_width, shape.pair_width
    keys = jax.random.split(key, 2 + 3 * shape.layers)
    layers = [
        {"single": dense.init(keys[2 + 3 * i], 2 * d1 + d2, d1), "pair": dense.init(keys[3 + 3 * i], d2, d2),
         "project": dense.init(keys[4 + 3 * i], d1, d2)}
        for i in range(shape.layers)
    ]
    return {"single_in": dense.init(keys[0], n_features, d1), "pair_in": dense.init(keys[1], n_features, d2),
            "layers": layers, "out": jnp.zeros((d1, dimension))}


def displacement(params, shape: FlowShape, positions, box_length):
    """f(X), shape (N, D): the periodic, translation-invariant, permutation-equivariant backflow of Alg. 1."""
    if shape.identity:
        return jnp.zeros_like(positions)
    n_particles, dimension = positions.shape
    pair_features = features.pair_features(positions, box_length, shape.harmonics, shape.radial_scales)
    others = 1.0 - jnp.eye(n_particles, dtype=positions.dtype)
    normaliser = max(n_particles - 1, 1)

    def mean_over_others(pair):
        return jnp.einsum("ij,ij...->i...", others, pair) / normaliser

    h = dense.apply(params["single_in"], mean_over_others(pair_features))
    h_pair = dense.apply(params["pair_in"], pair_features)
    for layer in params["layers"]:
        projected = dense.apply(layer["project"], h)
        message = mean_over_others(h_pair * projected[None, :, :])
        g = jnp.concatenate([h, jnp.broadcast_to(jnp.mean(h, axis=0), h.shape), message], axis=-1)
        h = (h + jnp.tanh(dense.apply(layer["single"], g))) / jnp.sqrt(2.0)
        h_pair = (h_pair + jnp.tanh(dense.apply(layer["pair"], h_pair))) / jnp.sqrt(2.0)
    spacing = box_length / n_particles ** (1.0 / dimension)
    return spacing * (h @ params["out"])


def forward(params, shape: FlowShape, positions, box_length):
    """Z(X) = X + f(X) of the backflow (not wrapped into the cell, so Z(X + nL) = Z(X) + nL holds
    literally); latent_and_log_jacobian gives Z(X) of either kind."""
    return positions + displacement(params, shape, positions, box_length)


def latent_and_log_jacobian(params, shape: FlowShape, positions, box_length, latent_guess=None):
    """(Z(X), sign of det dZ/dX, ln|det dZ/dX|) of one configuration."""
    if shape.monotone:
        z, log_det, _ = monotone_flow.latent(params, shape, positions, box_length, latent_guess)
        return z, jnp.ones((), positions.dtype), log_det
    sign, log_det = log_jacobian(params, shape, positions, box_length)
    return forward(params, shape, positions, box_length), sign, log_det


def jacobian(params, shape: FlowShape, positions, box_length):
    """dZ/dX as an (ND, ND) matrix, by forward-mode differentiation."""
    size = positions.size
    flat = jax.jacfwd(lambda x: forward(params, shape, x.reshape(positions.shape), box_length).ravel())
    return flat(positions.ravel()).reshape(size, size)


def log_jacobian(params, shape: FlowShape, positions, box_length, latent_guess=None):
    """(sign, ln|det dZ/dX|) of one configuration (the monotone flow's sign is +1 by construction)."""
    if shape.monotone:
        return latent_and_log_jacobian(params, shape, positions, box_length, latent_guess)[1:]
    return jnp.linalg.slogdet(jacobian(params, shape, positions, box_length))


def log_density(params, shape: FlowShape, positions, box_length):
    """ln p(X) = -N ln Omega + ln|det dZ/dX| for the uniform base on the torus (Eq. 3)."""
    n_particles, dimension = positions.shape
    _, log_det = log_jacobian(params, shape, positions, box_length)
    return log_det - n_particles * dimension * jnp.log(box_length)


def wrap(positions, box_length):
    """Positions folded into [0, L)."""
    return positions - box_length * jnp.floor(positions / box_length)


@dataclasses.dataclass(frozen=True)
class Inversion:
    """How flow.inverse solves Z(X) = z (config [sampling]; hashable, part of the jit cache key)."""

    fixed_point_iterations: int = 20
    newton_steps: int = 3

    MAX_RESIDUAL_BOHR = 1e-3
    """A larger residual means the inversion failed: the step is rejected."""


def inverse(params, shape: FlowShape, z, box_length, inversion: Inversion = Inversion()):
    """X with Z(X) = z (mod L), folded into the cell, and the largest residual component (bohr).

    Fixed-point iterations X <- z - f(X) from X = z (a contraction while |df/dX| < 1), then Newton
    steps with the exact Jacobian. X is a deterministic function of z: where the map is not
    one-to-one (a fold, det dZ/dX < 0 somewhere) the samples X(z) of a uniform z still have the
    density |det dZ/dX| / Omega^N on the sheet the inverse selects and none elsewhere, so ln p of
    the samples is the log-density of the distribution actually sampled
    (qsolid.dvfe.thermo.two_particle_flow), as long as the inversion converges. The monotone flow
    needs no inversion here: X = G(z) explicitly, residual 0."""
    if shape.identity:
        return wrap(z, box_length), jnp.zeros((), z.dtype)
    if shape.monotone:
        return wrap(monotone_flow.generate(params, shape, z, box_length)[0], box_length), jnp.zeros((), z.dtype)

    def residual(x):
        r = forward(params, shape, x, box_length) - z
        return r - box_length * jnp.round(r / box_length)

    x = jax.lax.fori_loop(0, inversion.fixed_point_iterations, lambda _, x: z - displacement(params, shape, x, box_length), z)
    for _ in range(inversion.newton_steps):
        step = jnp.linalg.solve(jacobian(params, shape, x, box_length), residual(x).ravel())
        x = x - step.reshape(x.shape)
    return wrap(x, box_length), jnp.max(jnp.abs(residual(x)))
