"""The base distribution of the proton flow (seed 001, Eq. 3) and its partition function.

    p(X) = p_base(Z(X)) |det dZ/dX|,   p_base(Z) = exp(-E_base(Z) / k_B T_base) / Z_base,

with E_base a classical surface of the protons ([base]): 'uniform' (E_base = 0, Z_base = Omega^N),
the image-summed Gaussian pair term or the protons' bare Ewald energy in a neutralising background
(the one-component plasma; qsolid.dvfe.potentials). A base that already holds the protons apart
spares the flow the near-singular compression a Coulomb core demands of it from a uniform base
(det dZ/dX -> 0 where two protons meet, which a trained flow overshoots into a fold,
docs/validation_dvfe.md): the flow only corrects the base, as the seed's DeePMD base does.

Z_base does not depend on the flow's parameters, so it leaves the gradient alone, but F and S need
it. Annealed importance sampling (Neal, Stat. Comput. 11, 125 (2001)) from the uniform distribution:
walkers start uniform, and at each of K stages beta_k = (k / K)^3 they gain the log-weight
-(beta_k - beta_{k-1}) E_base / k_B T_base and then take Metropolis sweeps of single-proton moves at
beta_k. Then

    ln Z_base = N ln Omega + ln mean_i exp(w_i),

with the delta-method standard error std(exp w) / (mean(exp w) sqrt(B)). The annealed walkers are
also samples of p_base: they start the latent Markov chain (qsolid.dvfe.electrons).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.dvfe import flow


@dataclasses.dataclass(frozen=True)
class Base:
    """p_base of Eq. 3: `energy(positions (N, D), box_length)` in Ha (None: uniform) at k_B T_base (Ha)."""

    energy: object
    temperature: float

    @property
    def uniform(self) -> bool:
        return self.energy is None

    def log_weight(self, z, box_length):
        """-E_base(z) / k_B T_base of one configuration (0 for the uniform base)."""
        if self.uniform:
            return jnp.zeros((), z.dtype)
        return -self.energy(z, box_length) / self.temperature


def log_density(params, shape, base: Base, positions, box_length, log_partition: float, latent_guess=None):
    """(sign of det dZ/dX, ln p(X)) of one configuration: ln p_base(Z(X)) + ln|det dZ/dX| (Eq. 3);
    latent_guess as in qsolid.dvfe.flow."""
    z, sign, log_det = flow.latent_and_log_jacobian(params, shape, positions, box_length, latent_guess)
    return sign, log_det + base.log_weight(z, box_length) - log_partition


def latent_move(base: Base, latent, key, step_bohr: float, box_length: float):
    """One step of the latent Markov chain of B configurations (B, N, D): a Gaussian random walk of every
    configuration's Z with the Metropolis test of p_base (none for the uniform base). Z is distributed as
    p_base whatever the flow's parameters, so the chain stays exact while the flow trains. (Z, acceptance)."""
    move_key, accept_key = jax.random.split(key)
    trial = flow.wrap(latent + step_bohr * jax.random.normal(move_key, latent.shape, latent.dtype), box_length)
    if base.uniform:
        return trial, jnp.ones((), latent.dtype)
    weights = jax.vmap(lambda z: base.log_weight(z, box_length))
    log_ratio = weights(trial) - weights(latent)
    accept = jnp.log(jax.random.uniform(accept_key, log_ratio.shape, latent.dtype)) < log_ratio
    return jnp.where(accept[:, None, None], trial, latent), jnp.mean(accept.astype(latent.dtype))


def uniform_log_partition(n_particles: int, box_length: float, dimension: int = 3) -> float:
    return n_particles * dimension * float(np.log(box_length))


def metropolis_sweep(base: Base, beta, z, key, step_bohr: float, box_length: float):
    """One sweep of single-proton Gaussian moves of z (N, D) under exp(beta ln p_base); (z, acceptance)."""
    n_particles = z.shape[0]

    def move(i, carry):
        z, accepted, key = carry
        key, propose_key, accept_key = jax.random.split(key, 3)
        trial = z.at[i].add(step_bohr * jax.random.normal(propose_key, z.shape[1:], z.dtype))
        trial = flow.wrap(trial, box_length)
        log_ratio = beta * (base.log_weight(trial, box_length) - base.log_weight(z, box_length))
        accept = jnp.log(jax.random.uniform(accept_key, dtype=z.dtype)) < log_ratio
        return jnp.where(accept, trial, z), accepted + accept, key

    z, accepted, _ = jax.lax.fori_loop(0, n_particles, move, (z, jnp.zeros((), z.dtype), key))
    return z, accepted / n_particles


def anneal(base: Base, ensemble, key, walkers: int, stages: int, sweeps: int, step_bohr: float, dtype):
    """Annealed importance sampling of Z_base (module docstring): (ln Z_base, its standard error,
    the annealed walkers (B, N, D), mean acceptance)."""
    box, n = ensemble.box_length, ensemble.n_particles
    uniform = uniform_log_partition(n, box, ensemble.dimension)
    z_key, key = jax.random.split(key)
    z = box * jax.random.uniform(z_key, (walkers, n, ensemble.dimension), dtype)
    if base.uniform:
        return uniform, 0.0, z, 1.0
    betas = (np.arange(stages + 1) / stages) ** 3
    energy = jax.vmap(lambda x: base.log_weight(x, box))

    @jax.jit
    def stage(z, log_w, key, beta_before, beta):
        log_w = log_w + (beta - beta_before) * energy(z)
        keys = jax.random.split(key, walkers * sweeps).reshape(walkers, sweeps, -1)

        def walk(z, walker_keys):
            def sweep(carry, sweep_key):
                z, accepted = carry
                z, acceptance = metropolis_sweep(base, beta, z, sweep_key, step_bohr, box)
                return (z, accepted + acceptance / sweeps), None
            (z, acceptance), _ = jax.lax.scan(sweep, (z, jnp.zeros((), z.dtype)), walker_keys)
            return z, acceptance

        z, acceptance = jax.vmap(walk)(z, keys)
        return z, log_w, jnp.mean(acceptance)

    log_w = jnp.zeros(walkers, dtype)
    acceptances = []
    for k in range(1, stages + 1):
        z, log_w, acceptance = stage(z, log_w, jax.random.fold_in(key, k), betas[k - 1], betas[k])
        acceptances.append(float(acceptance))
    log_w = np.asarray(log_w, dtype=np.float64)
    shift = log_w.max()
    weights = np.exp(log_w - shift)
    log_mean = shift + np.log(weights.mean())
    error = float(weights.std(ddof=1) / (weights.mean() * np.sqrt(walkers)))
    return uniform + float(log_mean), error, z, float(np.mean(acceptances))
