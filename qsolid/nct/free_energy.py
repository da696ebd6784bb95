"""Free-energy and entropy estimators and their gradients (seed 003, Eqs. 4-5).

With walkers n_i ~ p_n and z_i ~ |Psi_{n_i}|^2, the per-walker free energy
f_i = T ln p(n_i) + E_loc(n_i, z_i) averages to F (Eq. 4) and -ln p(n_i)
to S / k_B (Eq. 5). Gradients:

- occupations (score function): dF/dmu = E[(f - b_f) d ln p_n / dmu]; the
  T ln p term's own derivative averages to zero;
- flow and level mixing (VMC): dF/dtheta = 2 E[(E_loc - b_E) d ln Psi_n(q) / dtheta] at fixed
  q, unbiased for any baseline b_E(n) that depends on the state only, since
  E_q[d ln Psi_n / dtheta] = 0 for every normalised state. We take
  b_E(n) = sum_k omega_k n_k + c, the harmonic level spacing plus the batch
  mean c of E_loc - sum_k omega_k n_k, which removes most of the spread of
  E_loc between states in nearly harmonic solids.

The occupation baseline b_f is the batch mean of f. Both gradients come from
differentiating one surrogate loss whose value is irrelevant. Optionally, in
the gradients only (never in reported estimates), f and E_loc - b_E(n) are
clipped to their median +- w mean absolute deviations, as is usual in VMC:
rare configurations deep in a repulsive wall would otherwise dominate the
step. Clipping biases the gradient where the spread between states is real
(strongly anharmonic model systems), so it is off (w = 0) by default.
"""

import jax
import jax.numpy as jnp

from qsolid.nct import flow, mode_basis, occupations, wavefunction
from qsolid.stats import clip_outliers


def walker_terms(params, vibrations, occupation, zeta, temperature: float, levels: int) -> dict:
    """Per-walker z, kinetic, potential and local energies, ln p_n and f (arrays over walkers)."""
    z = jax.vmap(flow.inverse, in_axes=(None, 0))(params["flow"], zeta)
    kinetic, gradient = jax.vmap(wavefunction.local_kinetic, in_axes=(None, 0, 0, None, None, None))(
        params["flow"], occupation, z, vibrations.frequencies, levels, mode_basis.rotations(params)
    )
    potential = jax.vmap(vibrations.potential)(z)
    log_p = occupations.log_prob(params["occupations"], occupation)
    energy = kinetic + potential
    return {
        "z": z,
        "grad_log_psi": gradient,
        "kinetic": kinetic,
        "potential": potential,
        "energy": energy,
        "log_p": log_p,
        "free_energy": temperature * log_p + energy,
    }


def surrogate_loss(params, occupation, z, free_energy, energy, frequencies, levels: int, clip_width: float = 0.0):
    """A scalar whose gradient is the estimator of dF/d(mu, theta) described above."""
    free_energy, energy, z = jax.lax.stop_gradient((free_energy, energy, z))
    residual = clip_outliers(energy - occupation @ jnp.asarray(frequencies), clip_width)
    free_energy = clip_outliers(free_energy, clip_width)
    log_p = occupations.log_prob(params["occupations"], occupation)
    log_psi = jax.vmap(wavefunction.log_psi, in_axes=(None, 0, 0, None, None))(
        params["flow"], occupation, z, levels, mode_basis.rotations(params)
    )
    return jnp.mean((free_energy - jnp.mean(free_energy)) * log_p) + 2.0 * jnp.mean(
        (residual - jnp.mean(residual)) * log_psi
    )


def batch_means(terms: dict) -> dict:
    """Walker means and naive standard errors (walkers of one step are independent)."""
    walkers = terms["energy"].shape[0]
    out = {}
    for name in ("free_energy", "energy", "kinetic", "potential"):
        out[name] = jnp.mean(terms[name])
        out[f"{name}_error"] = jnp.std(terms[name]) / jnp.sqrt(walkers)
    out["entropy"] = -jnp.mean(terms["log_p"])
    out["entropy_error"] = jnp.std(terms["log_p"]) / jnp.sqrt(walkers)
    return out
