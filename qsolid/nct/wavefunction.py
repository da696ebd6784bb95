"""The variational states Psi_n(q) = Phi_n(f_theta(q)) |det df_theta/dq|^{1/2} (Eq. 6).

Phi_n is a product of harmonic-oscillator eigenfunctions, in the
dimensionless coordinates zeta = f(z) a product of standard Hermite
functions psi_{n_k}(zeta_k) (constant normalisation factors dropped: they
cancel in every estimator), or with level mixing of their rotations
chi_{n_k} (qsolid.nct.mode_basis; `rotation` None means none). The local kinetic energy is
-(1/2) sum_k omega_k [d^2 ln Psi / dz_k^2 + (d ln Psi / dz_k)^2], the
Laplacian by forward-over-reverse autodiff. One walker per call.
"""

import jax
import jax.numpy as jnp

from qsolid.nct import flow, mode_basis


def log_psi(flow_params, occupation, z, levels: int, rotation=None):
    """ln|Psi_n(z)| for one walker: occupation (D,) integers, z (D,)."""
    zeta, log_det = flow.forward(flow_params, z)
    return jnp.sum(mode_basis.log_abs(rotation, occupation, zeta, levels)) + 0.5 * log_det


def local_kinetic(flow_params, occupation, z, frequencies, levels: int, rotation=None):
    """(K_loc, d ln Psi / dz) for one walker."""
    omega = jnp.asarray(frequencies)

    def grad_log_psi(x):
        return jax.grad(log_psi, argnums=2)(flow_params, occupation, x, levels, rotation)

    gradient = grad_log_psi(z)
    second = jax.vmap(lambda e: jax.jvp(grad_log_psi, (z,), (e,))[1] @ e)(jnp.eye(z.shape[0]))
    return -0.5 * jnp.sum(omega * (second + gradient**2)), gradient
