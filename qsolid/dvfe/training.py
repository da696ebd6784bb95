"""One step of the variational free energy of classical protons: sample, estimate, update.

Sampling is exact and needs no Markov chain: Z is drawn uniformly on the torus
and pushed through the inverse flow (qsolid.dvfe.flow.inverse; the monotone flow
maps Z to X explicitly), so the B configurations of a step are independent draws
from p(X) and successive steps are independent too. With a non-uniform base
(LatentChain) Z instead follows the latent Markov chain of qsolid.dvfe.base, as
in the electron path.

Gradient: the score-function estimator with a leave-one-out baseline,

    grad F = E_p[(l(X) - b) grad ln p(X)],   l = k_B T ln p + V,
    b_i = mean_{j != i} l_j  <=>  (l_i - b_i) = B/(B-1) (l_i - mean_j l_j),

with l first clipped to median +- w mean|l - median| (optimisation.clip_width; the outlier
clipping of the seed, which tames the heavy tail a repulsive core or a noisy E_X gives l; a small
bias traded for variance, none for w = 0). Without clipping it is unbiased (b_i does not depend
on X_i) and, unlike the
reparameterised (pathwise) gradient, needs l only at the samples: no
derivative through the iterative inverse and, once V(X) is an electronic
energy from VMC, no forces. This is the estimator of the seed and its
predecessor (Xie et al., PRL 131, 126501 (2023)) with exact samples in place
of Metropolis ones.

An update is rejected (parameters and optimiser state kept) if a sampled
configuration has a non-positive Jacobian determinant (the flow would no
longer be a bijection) or a non-finite l.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from qsolid import units
from qsolid.stats import clip_outliers
from qsolid.dvfe import base as proton_base
from qsolid.dvfe import flow, potentials


def local_estimates(params, shape, ensemble, potential, positions, latent, log_density=None):
    """Per-configuration (sign, ln p, V, dV/dOmega) of a batch of positions (B, N, D) drawn from the
    latent Z (B, N, D); ln p of the uniform base, or log_density(params, x, z) -> (sign, ln p)
    (qsolid.dvfe.base.log_density)."""
    def one(x, z):
        if log_density is None:
            sign, log_det = flow.log_jacobian(params, shape, x, ensemble.box_length, z)
            log_p = log_det - ensemble.n_particles * ensemble.dimension * jnp.log(ensemble.box_length)
        else:
            sign, log_p = log_density(params, x, z)
        return sign, log_p, potential(x, ensemble.box_length), potentials.volume_derivative(potential, x, ensemble.box_length)

    return jax.vmap(one)(positions, latent)


def per_atom_observables(ensemble, log_p, energy, volume_derivative):
    """Per-configuration F, E (Ha/atom), S (k_B/atom) and P (GPa) whose means are the estimates of thermo.py."""
    n, temperature = ensemble.n_particles, ensemble.temperature
    return {
        "free_energy": (temperature * log_p + energy + ensemble.classical_constant) / n,
        "energy": (ensemble.kinetic_energy + energy) / n,
        "entropy": (ensemble.kinetic_energy - ensemble.classical_constant) / (n * temperature) - log_p / n,
        "pressure_gpa": units.ha_bohr3_to_gpa(ensemble.ideal_pressure - volume_derivative),
    }


def baseline_weights(local, clip_width: float):
    """(l_i - b_i) of the module docstring for the batch's l (clipped), leave-one-out baseline."""
    local = clip_outliers(local, clip_width)
    return (local - jnp.mean(local)) * local.shape[0] / (local.shape[0] - 1)


def protons_of(params, shape, ensemble, latent, inversion: flow.Inversion):
    """X = f^{-1}(Z) (B, N, D) of every latent configuration and the largest inversion residual (bohr):
    a deterministic function of Z (qsolid.dvfe.flow.inverse), so ln p is the density of the samples."""
    positions, residuals = jax.vmap(lambda z: flow.inverse(params, shape, z, ensemble.box_length, inversion))(latent)
    return jax.lax.stop_gradient(positions), jnp.max(residuals)


def draw(params, shape, ensemble, key, batch_size, inversion: flow.Inversion):
    """Independent samples X ~ p (B, N, D), the latent Z they came from and the largest inversion residual (bohr)."""
    z = ensemble.box_length * jax.random.uniform(key, (batch_size, ensemble.n_particles, ensemble.dimension))
    positions, residual = protons_of(params, shape, ensemble, z, inversion)
    return positions, z, residual


def make_optimizer(learning_rate: float):
    return optax.adam(learning_rate)


@dataclasses.dataclass(frozen=True)
class LatentChain:
    """A non-uniform base without electrons: Z follows the latent Markov chain of qsolid.dvfe.base
    (latent_move with steps of step_bohr) instead of fresh uniform draws, and ln p uses ln Z_base."""

    base: object
    log_partition: float
    step_bohr: float


@functools.lru_cache(maxsize=16)
def make_step(shape, ensemble, potential_spec, learning_rate, batch_size, inversion: flow.Inversion,
              train: bool, clip_width: float = 0.0, measure=None, chain: LatentChain | None = None):
    """Jitted step(params, opt_state, key) -> (params, opt_state, statistics of the step's batch); with a
    `chain`, step(params, opt_state, key, latent) -> (params, opt_state, latent, statistics).

    Cached on its (hashable) arguments, so a resumed run in the same process reuses the compiled step.
    potential_spec is (kind, strength, width) of potentials.make_potential. `measure` (hashable,
    positions (B, N, D) -> dict of arrays; qsolid.dvfe.observables.ProtonStructure) adds the step's
    batch reduced on device under statistics["structure"]. With a chain the configurations of
    successive steps are correlated (the reported error bars are reblocked), and a rejected step keeps
    the latent Z as it was.
    """
    potential = potentials.make_potential(*potential_spec)
    optimizer = make_optimizer(learning_rate)
    log_density = None
    if chain is not None:
        box = ensemble.box_length
        log_density = lambda p, x, z: proton_base.log_density(p, shape, chain.base, x, box, chain.log_partition, z)

    def step(params, opt_state, key, latent=None):
        if chain is None:
            positions, latent, residual = draw(params, shape, ensemble, key, batch_size, inversion)
        else:
            move_key, key = jax.random.split(key)
            previous = latent
            latent, acceptance = proton_base.latent_move(chain.base, latent, move_key, chain.step_bohr, ensemble.box_length)
            positions, residual = protons_of(params, shape, ensemble, latent, inversion)

        def surrogate(p):
            sign, log_p, energy, volume_derivative = local_estimates(p, shape, ensemble, potential, positions, latent,
                                                                     log_density)
            weight = baseline_weights(jax.lax.stop_gradient(ensemble.temperature * log_p + energy), clip_width)
            return jnp.mean(weight * log_p), (sign, log_p, energy, volume_derivative)

        if train:
            grads, (sign, log_p, energy, volume_derivative) = jax.grad(surrogate, has_aux=True)(params)
        else:
            _, (sign, log_p, energy, volume_derivative) = surrogate(params)
        observables = per_atom_observables(ensemble, log_p, energy, volume_derivative)
        nonpositive = jnp.sum(sign <= 0)
        finite = jnp.all(jnp.isfinite(observables["free_energy"]))
        rejected = (nonpositive > 0) | ~finite | (residual > flow.Inversion.MAX_RESIDUAL_BOHR)
        if train:
            updates, new_opt_state = optimizer.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            keep = lambda old, new: jax.tree_util.tree_map(lambda a, b: jnp.where(rejected, a, b), old, new)
            params, opt_state = keep(params, new_params), keep(opt_state, new_opt_state)
        stats = {}
        for name, values in observables.items():
            stats[name] = jnp.mean(values)
            stats[f"{name}_error"] = jnp.std(values, ddof=1) / jnp.sqrt(batch_size)
        stats.update(inverse_residual_bohr=residual, nonpositive_jacobians=nonpositive, rejected=rejected)
        if measure is not None:
            stats["structure"] = measure(positions)
        if chain is None:
            return params, opt_state, stats
        stats["proton_acceptance"] = acceptance
        return params, opt_state, jnp.where(rejected, previous, latent), stats

    return jax.jit(step)
