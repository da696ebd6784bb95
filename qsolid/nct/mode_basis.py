"""Level mixing: one-mode orthonormal functions chi_n = sum_m U_nm psi_m (an extension of Eq. 6).

Eq. 6 maps every state through one bijection f, Psi_n = Phi_n(f(q)) |det df/dq|^{1/2};
a point transformation cannot make all levels of an anharmonic mode exact at
once (for V = x^2/2 + 0.1 x^4 the best one leaves F(beta = 1) 0.75 % high,
docs/validation_nct.md). With level mixing, Phi_n is a product of
chi_{n_k}(zeta_k), where each mode k rotates its K Hermite functions by an
orthogonal matrix U_k = exp(A_k - A_k^T) (A_k strictly upper triangular
within a band m - n <= w, zero at the start, so U_k = 1 reproduces Eq. 6). The chi_n stay orthonormal,
so the Psi_n do too and F remains a variational upper bound; in one mode the
ansatz becomes a variational diagonalisation of H in the flow-adapted basis.
The |Phi_n|^2 target of the sampler is still a product over modes.

The band w limits the rotations to nearby levels, which an anharmonic term
in the flow-adapted basis couples; pairs far apart in energy cost
(E_m - E_n) theta^2 for every stray angle theta, and their stochastic
gradients are the noisiest (d ln chi_n / dA_nm = chi_m / chi_n).
"""

import jax
import jax.numpy as jnp

from qsolid.nct import hermite


def init(dimension: int, levels: int, band: int) -> dict:
    """Zero generators (U = 1) coupling levels n < m <= n + band; stored as A[k, n, j - 1] = A_k[n, n + j]."""
    return {"generator": jnp.zeros((dimension, levels, min(band, levels - 1)))}


def rotations(params: dict):
    """U_k = exp(A_k - A_k^T), shape (D, K, K), from the full parameters; None without level mixing."""
    if "mixing" not in params:
        return None
    banded = params["mixing"]["generator"]
    dimension, levels, band = banded.shape
    upper = jnp.zeros((dimension, levels, levels), banded.dtype)
    for j in range(1, band + 1):
        n = jnp.arange(levels - j)
        upper = upper.at[:, n, n + j].set(banded[:, : levels - j, j - 1])
    return jax.vmap(jax.scipy.linalg.expm)(upper - jnp.swapaxes(upper, -1, -2))


def log_abs(rotation, occupation, zeta, levels: int):
    """log|chi_{n_k}(zeta_k)| per mode for one walker or a batch (occupation, zeta of shape (..., D)).

    rotation None gives the Hermite functions of Eq. 6 themselves.
    """
    if rotation is None:
        return hermite.log_abs_hermite(occupation, zeta, levels)
    modes = jnp.arange(zeta.shape[-1])
    coefficients = rotation[modes, occupation]  # (..., D, K): row n_k of U_k
    return hermite.log_abs_combination(jnp.moveaxis(coefficients, -1, 0), zeta, levels)
