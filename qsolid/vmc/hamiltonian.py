"""Local energy in fractional coordinates (seed 000, Eqs. S3 and S7).

Walkers hold fractional coordinates S; Cartesian positions are X = L^T S
(rows: x = s @ L). With g = L L^T, the kinetic part of Eq. S3 for particles p
of mass m_p is

    K_loc = -sum_p 1/(2 m_p) [ sum_ab (g^-1)_ab d^2 ln Psi / ds_p^a ds_p^b + |L^-1 grad_{s_p} ln Psi|^2 ].

We evaluate it as an ordinary Laplacian in mass-scaled Cartesian variables
y_p = sqrt(m_p) x_p, i.e. of f(y) = ln Psi(S(y)) with S = y L^-1 / sqrt(m):
the chain rule turns Delta_y f and |grad_y f|^2 into exactly the metric sums
above (the tests also evaluate Eq. S3 literally in s with a Hessian). folx's
forward Laplacian propagates value, gradient and Laplacian in one forward
pass. For complex Psi = exp(a + i b),

    Re[-Delta Psi / (2 Psi)] = -(Delta a + |grad a|^2 - |grad b|^2) / 2,
    Im[-Delta Psi / (2 Psi)] = -(Delta b + 2 grad a . grad b) / 2,

and the imaginary part enters the energy gradient of a complex wavefunction.

With quantum nuclei Psi = chi(R) phi(r, R) (Eq. 2) and chi real. The
electrons see only phi; the nuclear kinetic energy splits as in Eq. S7 into

    K_BO    = -sum_I 1/(2 M_I) [Delta_I ln chi + |grad_I ln chi|^2]               (= -sum Delta chi / 2M chi)
    K_nonBO = -sum_I 1/(2 M_I) [Delta_I a + |grad_I a|^2 - |grad_I b|^2 + 2 grad_I a . grad_I ln chi]
                                                                    (= -sum [Delta phi / phi + 2 grad phi . grad chi / phi chi] / 2M)

with phi = exp(a + i b): the R-derivatives of phi are real physics and are
all included. The potential is the Ewald energy V(L^T S) of all charges.
"""

import dataclasses
from typing import Callable, Literal

import folx
import jax
import jax.numpy as jnp

from qsolid import lattice as lat
from qsolid.ewald import ewald_energy


@dataclasses.dataclass(frozen=True)
class LocalEnergy:
    """Per-walker local energy and its parts (Ha)."""

    energy: jax.Array
    """Real part of H Psi / Psi."""
    energy_imag: jax.Array
    kinetic: jax.Array
    """Electronic plus nuclear kinetic energy."""
    potential: jax.Array
    kinetic_bo: jax.Array
    """Nuclear kinetic energy of chi alone (Eq. S7, first term); 0 for clamped nuclei."""
    kinetic_nonbo: jax.Array
    """Nuclear kinetic energy from the R-dependence of phi (Eq. S7); 0 for clamped nuclei."""


jax.tree_util.register_dataclass(
    LocalEnergy,
    data_fields=["energy", "energy_imag", "kinetic", "potential", "kinetic_bo", "kinetic_nonbo"],
    meta_fields=[],
)


def laplacian_and_gradient(f: Callable, y, method: Literal["forward", "hessian"] = "forward", sparsity_threshold: int = 0):
    """Laplacians (k,) and gradients (k, n) of the k outputs of f at the flat point y.

    sparsity_threshold: folx keeps a gradient sparse while it depends on at most this many
    inputs (0: dense throughout); the result is the same, the work is not. A threshold reaching the
    number of inputs keeps everything sparse, all bookkeeping and no saving: dense then."""
    if method == "forward":
        if sparsity_threshold >= y.size:
            sparsity_threshold = 0
        result = folx.forward_laplacian(f, sparsity_threshold=sparsity_threshold)(y)
        return result.laplacian, result.jacobian.dense_array.T  # folx stores (inputs, outputs)
    return jnp.trace(jax.hessian(f)(y), axis1=1, axis2=2), jax.jacfwd(f)(y)


def _as_function_of_scaled_cartesian(g: Callable, positions, lattice, masses=None):
    """(f, y0): f(y) = g(s(y)) with s = (y / sqrt(m)) L^-1, y0 the scaled Cartesian point of `positions`."""
    inverse = jnp.linalg.inv(lattice)
    shape = positions.shape
    scale = jnp.ones((shape[0], 1), positions.dtype) if masses is None else jnp.sqrt(masses)[:, None]

    def f(y):
        return g((y.reshape(shape) / scale) @ inverse)

    return f, ((positions @ lattice) * scale).reshape(-1)


def electron_kinetic_energy(log_psi: Callable, electrons, lattice, method="forward", sparsity_threshold=0):
    """(Re, Im) of -1/2 sum_i Delta_i Psi / Psi for log_psi(electrons_frac) -> (phase, log|Psi|)."""

    def outputs(s):
        phase, log_abs = log_psi(s)
        return jnp.stack([log_abs, phase])

    f, y = _as_function_of_scaled_cartesian(outputs, electrons, lattice)
    lap, grad = laplacian_and_gradient(f, y, method, sparsity_threshold)
    real = -0.5 * (lap[0] + jnp.sum(grad[0] ** 2) - jnp.sum(grad[1] ** 2))
    imag = -0.5 * (lap[1] + 2.0 * jnp.sum(grad[0] * grad[1]))
    return real, imag


def nuclear_kinetic_energy(log_parts: Callable, nuclei, lattice, masses, method="forward", sparsity_threshold=0):
    """(K_BO, K_nonBO, Im) of the nuclear kinetic energy (Eq. S7) for log_parts(R) -> (phase_phi, ln|phi|, ln chi)."""

    def outputs(s):
        phase, log_phi, log_chi = log_parts(s)
        return jnp.stack([log_phi, phase, log_chi])

    f, y = _as_function_of_scaled_cartesian(outputs, nuclei, lattice, masses)
    lap, grad = laplacian_and_gradient(f, y, method, sparsity_threshold)
    kinetic_bo = -0.5 * (lap[2] + jnp.sum(grad[2] ** 2))
    kinetic_nonbo = -0.5 * (lap[0] + jnp.sum(grad[0] ** 2) - jnp.sum(grad[1] ** 2) + 2.0 * jnp.sum(grad[0] * grad[2]))
    imag = -0.5 * (lap[1] + 2.0 * jnp.sum(grad[1] * (grad[0] + grad[2])))
    return kinetic_bo, kinetic_nonbo, imag


def dipole(electrons, nuclei, nuclear_charges, lattice):
    """Cell dipole d = sum_I Z_I x_I - sum_i x_i (bohr), positions by minimum image around the nuclear centroid.

    Meaningful for a molecule in a box, where the tin-foil Ewald energy lies
    (2 pi / 3 Omega) d^2 below the isolated-molecule energy. Zero without nuclei (jellium: no centre).
    """
    if nuclei.shape[0] == 0:
        return jnp.zeros(3, electrons.dtype)
    centre = nuclei[0] + jnp.mean(lat.minimum_image(nuclei - nuclei[0]), axis=0)
    electron_x = lat.minimum_image(electrons - centre) @ lattice
    nuclear_x = lat.minimum_image(nuclei - centre) @ lattice
    return jnp.sum(nuclear_charges[:, None] * nuclear_x, axis=0) - jnp.sum(electron_x, axis=0)


def make_local_energy(
    wavefunction, ewald_setup, method: Literal["forward", "hessian"] = "forward", masses=None, sparsity_threshold: int = 0
):
    """local_energy(params, electrons, nuclei, lattice, group=0) -> LocalEnergy for one walker of `group`.

    `masses` (n_nuclei,) in electron masses makes the nuclei quantum; None clamps them.
    """
    def local_energy(params, electrons, nuclei, lattice, group=0):
        def electron_log_psi(e):
            phase, log_phi, _ = wavefunction.apply_parts(params, e, nuclei, group)
            return phase, log_phi

        kinetic, imag = electron_kinetic_energy(electron_log_psi, electrons, lattice, method, sparsity_threshold)
        zero = jnp.zeros((), electrons.dtype)
        kinetic_bo = kinetic_nonbo = zero
        if masses is not None:
            kinetic_bo, kinetic_nonbo, nuclear_imag = nuclear_kinetic_energy(
                lambda n: wavefunction.apply_parts(params, electrons, n, group),
                nuclei,
                lattice,
                jnp.asarray(masses, electrons.dtype),
                method,
                sparsity_threshold,
            )
            kinetic = kinetic + kinetic_bo + kinetic_nonbo
            imag = imag + nuclear_imag
        potential = ewald_energy(ewald_setup, lattice, jnp.concatenate([electrons, nuclei], axis=0))
        return LocalEnergy(
            energy=kinetic + potential,
            energy_imag=imag,
            kinetic=kinetic,
            potential=potential,
            kinetic_bo=kinetic_bo,
            kinetic_nonbo=kinetic_nonbo,
        )

    return local_energy


def map_in_chunks(f: Callable, chunk: int, *xs):
    """f(*xs) for an f that maps over the leading (walker) axis, evaluated `chunk` walkers at a time
    (lax.map over vmapped pieces), so that its memory scales with `chunk`, not the batch.

    Walker j * n + c (n = batch / chunk) goes to piece c: each piece takes the same share of
    every device's contiguous block of walkers, so the device split survives the chunking.
    """
    n = xs[0].shape[0] // chunk

    def split(x):
        return jnp.swapaxes(x.reshape(chunk, n, *x.shape[1:]), 0, 1)

    def join(y):
        return jnp.swapaxes(y, 0, 1).reshape(chunk * n, *y.shape[2:])

    pieces = jax.lax.map(lambda args: f(*args), tuple(split(x) for x in xs))
    return jax.tree.map(join, pieces)
