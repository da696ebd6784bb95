"""Metropolis-Hastings sampling of |Psi|^2 over electron positions.

Walkers carry fractional coordinates (electrons and nuclei) with a leading
batch axis; a proposal moves all electrons of a walker by a Gaussian step of
width `step_bohr` in Cartesian space, mapped to fractional coordinates and
folded into [0, 1) (the wavefunction is periodic, so folding changes nothing
physical but keeps float32 positions fine-grained). Sweeps run in a
`lax.fori_loop` inside jit.

The step width is adapted between optimisation steps towards a target
acceptance, by a bounded multiplicative rule: in a small periodic cell the
acceptance may never fall to the target however large the step, and an
unbounded width would grow forever; the upper bound is the configured maximum
or half the shortest cell height, whichever is smaller.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from qsolid import lattice as lat

MIN_STEP_BOHR = 1e-3
ADAPT_FACTOR = 1.1


@dataclasses.dataclass(frozen=True)
class Walkers:
    """A batch of configurations; all positions fractional."""

    electrons: jax.Array
    """(batch, n_electrons, 3)"""
    nuclei: jax.Array
    """(batch, n_nuclei, 3)"""
    log_abs: jax.Array
    """(batch,) log|Psi| of the current configuration."""


jax.tree_util.register_dataclass(Walkers, data_fields=["electrons", "nuclei", "log_abs"], meta_fields=[])


def initial_electrons(key, system, batch_size: int, spread_bohr: float = 1.0):
    """Electrons placed near the nuclei (Gaussian of width `spread_bohr`), spins alternating.

    Each nucleus of charge Z receives Z electrons in turn (assigned up/down in
    round-robin), so the starting density resembles atoms, not a uniform gas.
    """
    owners = np.repeat(np.arange(system.n_nuclei), system.nuclear_charges.astype(int))
    owners = np.concatenate([owners[0::2], owners[1::2]])[: system.n_electrons]
    centres = jnp.asarray(system.nuclear_cartesian[owners])
    noise = spread_bohr * jax.random.normal(key, (batch_size, system.n_electrons, 3))
    return lat.wrap((centres + noise) @ jnp.linalg.inv(jnp.asarray(system.lattice)))


def max_step_bohr(lattice, configured_max: float) -> float:
    """Upper bound of the adapted step: configured maximum or half the shortest cell height."""
    heights = lat.volume(np.asarray(lattice)) / np.linalg.norm(np.cross(np.roll(lattice, 1, 0), np.roll(lattice, 2, 0)), axis=1)
    return float(min(configured_max, 0.5 * np.min(heights)))


def metropolis_sweeps(log_psi_batch, params, walkers: Walkers, key, step_bohr, lattice, sweeps: int):
    """Run `sweeps` all-electron Metropolis moves; returns (walkers, mean acceptance).

    log_psi_batch(params, electrons, nuclei) -> log|Psi| for a batch.
    """
    inverse = jnp.linalg.inv(lattice)

    def sweep(_, carry):
        walkers, key, accepted = carry
        key, move_key, accept_key = jax.random.split(key, 3)
        step = step_bohr * jax.random.normal(move_key, walkers.electrons.shape, dtype=walkers.electrons.dtype)
        proposal = lat.wrap(walkers.electrons + step @ inverse)
        log_abs_new = log_psi_batch(params, proposal, walkers.nuclei)
        log_ratio = 2.0 * (log_abs_new - walkers.log_abs)
        uniform = jax.random.uniform(accept_key, walkers.log_abs.shape, dtype=walkers.log_abs.dtype)
        accept = jnp.log(uniform) < log_ratio
        new = Walkers(
            electrons=jnp.where(accept[:, None, None], proposal, walkers.electrons),
            nuclei=walkers.nuclei,
            log_abs=jnp.where(accept, log_abs_new, walkers.log_abs),
        )
        return new, key, accepted + jnp.mean(accept.astype(walkers.log_abs.dtype))

    zero = jnp.zeros((), walkers.log_abs.dtype)
    walkers, _, accepted = jax.lax.fori_loop(0, sweeps, sweep, (walkers, key, zero))
    return walkers, accepted / sweeps


def adapt_step(step_bohr: float, acceptance: float, target: float, upper_bohr: float) -> float:
    """Bounded multiplicative step-width update towards the target acceptance."""
    factor = ADAPT_FACTOR if acceptance > target else 1.0 / ADAPT_FACTOR
    return float(np.clip(step_bohr * factor, MIN_STEP_BOHR, upper_bohr))
